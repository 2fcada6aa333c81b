"""Host states without the duplicate maintenance flag; what heartbeat reconciliation
remembers in a table of its own; a migration's target on the VM; cancelling running
tasks; clusters' CPU mode and migration policy

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The flag said what the state says; nothing set it, but keep its meaning if set.
    hosts = sa.table('hosts', sa.column('state', sa.String), sa.column('maintenance', sa.Boolean))
    op.execute(
        hosts.update()
        .where(hosts.c.maintenance == sa.true(), hosts.c.state == 'normal')
        .values(state='maintenance')
    )
    with op.batch_alter_table('hosts', schema=None) as batch_op:
        batch_op.drop_column('maintenance')
    op.create_table(
        'host_reconciliation',
        sa.Column('host_id', sa.Uuid(), nullable=False),
        sa.Column('suspects', sa.JSON(), nullable=False),
        sa.Column('strays', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ['host_id'], ['hosts.id'],
            name=op.f('fk_host_reconciliation_host_id_hosts'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('host_id', name=op.f('pk_host_reconciliation')),
    )
    with op.batch_alter_table('vms', schema=None) as batch_op:
        batch_op.add_column(sa.Column('migration_target_host_id', sa.Uuid(), nullable=True))
        batch_op.create_index(
            batch_op.f('ix_vms_migration_target_host_id'), ['migration_target_host_id'],
            unique=False,
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_vms_migration_target_host_id_hosts'), 'hosts',
            ['migration_target_host_id'], ['id'], ondelete='RESTRICT',
        )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('cancel_requested_at', sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table('clusters', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('cpu_mode', sa.String(length=64), nullable=False,
                      server_default='host-model')
        )
        batch_op.add_column(
            sa.Column('migration_policy', sa.JSON(), nullable=False, server_default='{}')
        )


def downgrade() -> None:
    with op.batch_alter_table('clusters', schema=None) as batch_op:
        batch_op.drop_column('migration_policy')
        batch_op.drop_column('cpu_mode')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_column('cancel_requested_at')
    with op.batch_alter_table('vms', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_vms_migration_target_host_id_hosts'), type_='foreignkey'
        )
        batch_op.drop_index(batch_op.f('ix_vms_migration_target_host_id'))
        batch_op.drop_column('migration_target_host_id')
    op.drop_table('host_reconciliation')
    with op.batch_alter_table('hosts', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('maintenance', sa.Boolean(), nullable=False, server_default=sa.false())
        )
    hosts = sa.table('hosts', sa.column('state', sa.String), sa.column('maintenance', sa.Boolean))
    op.execute(
        hosts.update()
        .where(hosts.c.state.in_(['maintaining', 'maintenance']))
        .values(maintenance=True, state='normal')
    )

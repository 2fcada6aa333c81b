"""The WebUI: indexes for its change feed (updated_at of VMs, tasks and alarms) and
each user's language

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ('vms', 'ix_vms_updated_at'),
    ('tasks', 'ix_tasks_updated_at'),
    ('alarms', 'ix_alarms_updated_at'),
)


def upgrade() -> None:
    for table, name in _INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, ['updated_at'], unique=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('language')
    for table, name in _INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)

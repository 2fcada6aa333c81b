"""images, CD-ROMs and console tickets

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 00:31:55.699852
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('images',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('format', sa.Enum('iso', 'qcow2', 'raw', name='imageformat', native_enum=False, length=32), nullable=False),
    sa.Column('os_hint', sa.String(length=64), nullable=False),
    sa.Column('datastore_id', sa.Uuid(), nullable=False),
    sa.Column('volume_name', sa.String(length=128), nullable=False),
    sa.Column('source', sa.Enum('upload', 'url', 'path', 'template', name='imagesource', native_enum=False, length=32), nullable=False),
    sa.Column('source_ref', sa.String(length=4096), nullable=False),
    sa.Column('state', sa.Enum('uploading', 'ready', 'failed', 'deleting', name='imagestate', native_enum=False, length=32), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('virtual_size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('expected_sha256', sa.String(length=64), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('task_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('progress BETWEEN 0 AND 100', name=op.f('ck_images_progress')),
    sa.CheckConstraint('size_bytes >= 0 AND virtual_size_bytes >= 0', name=op.f('ck_images_sizes')),
    sa.ForeignKeyConstraint(['datastore_id'], ['datastores.id'], name=op.f('fk_images_datastore_id_datastores'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_images_task_id_tasks'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_images')),
    sa.UniqueConstraint('datastore_id', 'name', name=op.f('uq_images_datastore_id_name'))
    )
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_images_datastore_id'), ['datastore_id'], unique=False)

    op.create_table('console_tickets',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('vm_id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_console_tickets_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['vm_id'], ['vms.id'], name=op.f('fk_console_tickets_vm_id_vms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_tickets')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_console_tickets_token_hash'))
    )
    with op.batch_alter_table('console_tickets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_tickets_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_console_tickets_vm_id'), ['vm_id'], unique=False)

    op.create_table('vm_cdroms',
    sa.Column('vm_id', sa.Uuid(), nullable=False),
    sa.Column('device', sa.String(length=16), nullable=False),
    sa.Column('image_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_vm_cdroms_image_id_images'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['vm_id'], ['vms.id'], name=op.f('fk_vm_cdroms_vm_id_vms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vm_cdroms')),
    sa.UniqueConstraint('vm_id', 'device', name=op.f('uq_vm_cdroms_vm_id_device'))
    )
    with op.batch_alter_table('vm_cdroms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vm_cdroms_image_id'), ['image_id'], unique=False)

    with op.batch_alter_table('vms', schema=None) as batch_op:
        batch_op.add_column(sa.Column('console_exclusive', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('volumes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('base_image_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('ix_volumes_base_image_id'), ['base_image_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_volumes_base_image_id_images'), 'images', ['base_image_id'], ['id'], ondelete='RESTRICT')



def downgrade() -> None:
    with op.batch_alter_table('volumes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_volumes_base_image_id_images'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_volumes_base_image_id'))
        batch_op.drop_column('base_image_id')

    with op.batch_alter_table('vms', schema=None) as batch_op:
        batch_op.drop_column('console_exclusive')

    with op.batch_alter_table('vm_cdroms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vm_cdroms_image_id'))

    op.drop_table('vm_cdroms')
    with op.batch_alter_table('console_tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_tickets_vm_id'))
        batch_op.drop_index(batch_op.f('ix_console_tickets_expires_at'))

    op.drop_table('console_tickets')
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_images_datastore_id'))

    op.drop_table('images')

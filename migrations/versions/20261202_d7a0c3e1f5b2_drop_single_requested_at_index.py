"""Drop the single-column index on service_request.requested_at.

The composite (requested_at, id) index serves every query it served, and its order matches the
list's (requested_at DESC, id DESC); with both present PostgreSQL sometimes walked the single
column one and sorted the ties (an Incremental Sort), which the plan test refuses.

Revision ID: d7a0c3e1f5b2
Revises: c4e7d1a9b2f0
Create Date: 2026-12-02 12:40:00
"""
from alembic import op

revision = 'd7a0c3e1f5b2'
down_revision = 'c4e7d1a9b2f0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('service_request', schema=None) as batch_op:
        batch_op.drop_index('ix_service_request_requested_at')


def downgrade():
    with op.batch_alter_table('service_request', schema=None) as batch_op:
        batch_op.create_index('ix_service_request_requested_at', ['requested_at'], unique=False)

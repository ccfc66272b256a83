"""outbox claimed_by and a due-rows index

``claimed_by``: the token of the worker batch that holds a row's lease (``locked_until``), so a
worker renews, marks and releases only the rows it still holds after its lease could have
lapsed (issue 12: batched claims). ``ix_outbox_message_due`` (status, next_attempt_at, id)
serves the claim query's filter and order once millions of sent rows accumulate.

Revision ID: c4e7d1a9b2f0
Revises: c11a57a75e01
Create Date: 2026-12-02 11:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4e7d1a9b2f0'
down_revision = 'c11a57a75e01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_outbox_message_due', ['status', 'next_attempt_at', 'id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_message_due')
        batch_op.drop_column('claimed_by')

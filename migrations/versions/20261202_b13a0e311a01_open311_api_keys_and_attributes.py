"""Open311: API keys, the key a report came through, answers to a category's attributes

Revision ID: b13a0e311a01
Revises: a10c17ab0e01
Create Date: 2026-12-02 07:05:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.clock  # noqa: F401  (UTCDateTime columns)


# revision identifiers, used by Alembic.
revision = 'b13a0e311a01'
down_revision = 'a10c17ab0e01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'api_key',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('contact', sa.String(length=254), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('rate_limit', sa.String(length=120), nullable=True),
        sa.Column('created_at', webapp.clock.UTCDateTime(), nullable=False),
        sa.Column('revoked_at', webapp.clock.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_key')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_api_key_token_hash')),
    )
    with op.batch_alter_table('service_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attributes', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('api_key_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_service_request_api_key_id'), ['api_key_id'],
                              unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_service_request_api_key_id_api_key'),
                                    'api_key', ['api_key_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('service_request', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_service_request_api_key_id_api_key'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_service_request_api_key_id'))
        batch_op.drop_column('api_key_id')
        batch_op.drop_column('attributes')
    op.drop_table('api_key')

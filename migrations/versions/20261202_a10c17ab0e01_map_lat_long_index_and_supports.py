"""map: composite (lat, long) index and report supports

``ix_service_request_lat_long_map``: the city map's bounding-box and "already reported?"
queries (issue 10). ``report_support``: "me too" on a report, once per phone
(``uq_report_support_client`` on ``(report_id, client_id)``).

Revision ID: a10c17ab0e01
Revises: e1f2a3b4c5d6
Create Date: 2026-12-02 07:10:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.clock  # noqa: F401  (UTCDateTime columns)


# revision identifiers, used by Alembic.
revision = 'a10c17ab0e01'
down_revision = 'e1f2a3b4c5d6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_service_request_lat_long_map', 'service_request', ['lat', 'long'],
                    unique=False)
    op.create_table(
        'report_support',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('report_id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.String(length=36), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=True),
        sa.Column('consent_version', sa.String(length=32), nullable=True),
        sa.Column('consent_text', sa.Text(), nullable=True),
        sa.Column('consent_at', webapp.clock.UTCDateTime(timezone=True), nullable=True),
        sa.Column('language', sa.String(length=8), nullable=True),
        sa.Column('created_at', webapp.clock.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['report_id'], ['service_request.id'],
                                name=op.f('fk_report_support_report_id_service_request'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_report_support')),
        sa.UniqueConstraint('report_id', 'client_id', name='uq_report_support_client'),
    )


def downgrade():
    op.drop_table('report_support')
    op.drop_index('ix_service_request_lat_long_map', table_name='service_request')

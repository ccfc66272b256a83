"""statistics summary table: the public statistics page reads precomputed figures (issue 11)

Computing the figures from the reports took 46-77 s at a million reports; the worker now
rebuilds this small table and the page reads only it.

Revision ID: c11a57a75e01
Revises: a43d4038c1d3
Create Date: 2026-12-02 11:35:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.clock  # noqa: F401  (UTCDateTime columns)


# revision identifiers, used by Alembic.
revision = 'c11a57a75e01'
down_revision = 'a43d4038c1d3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'statistics_figure',
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('period_days', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('resolved', sa.Integer(), nullable=False),
        sa.Column('share_resolved', sa.Float(), nullable=False),
        sa.Column('first_response_median_h', sa.Float(), nullable=True),
        sa.Column('first_response_p90_h', sa.Float(), nullable=True),
        sa.Column('resolution_median_h', sa.Float(), nullable=True),
        sa.Column('resolution_p90_h', sa.Float(), nullable=True),
        sa.Column('computed_at', webapp.clock.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'period_days', 'key', name=op.f('pk_statistics_figure')),
    )


def downgrade():
    op.drop_table('statistics_figure')

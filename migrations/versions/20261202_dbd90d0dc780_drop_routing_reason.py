"""drop routing_reason

The reason in words was stored in Polish at submission and never read: pages and e-mails
explain the stored routing_rule in the reader's language (webapp.routing.services.explain).
Downgrade brings the column back empty.

Revision ID: dbd90d0dc780
Revises: cba43b67abc2
Create Date: 2026-12-02 05:52:42.161430

"""
from alembic import op
import sqlalchemy as sa

import webapp.clock  # noqa: F401  (UTCDateTime columns)


# revision identifiers, used by Alembic.
revision = 'dbd90d0dc780'
down_revision = 'cba43b67abc2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('service_request', schema=None) as batch_op:
        batch_op.drop_column('routing_reason')



def downgrade():
    with op.batch_alter_table('service_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('routing_reason', sa.TEXT(), nullable=False, server_default=''))


"""composite indexes for the public list and Open311 (issue 12)

The public list and Open311 ``requests.json`` filter by category and/or status and read newest
first (``requested_at DESC, id DESC``). With only single-column indexes a filtered page sorted
every match (SQLite: a temporary B-tree); each index here matches one filter combination and
the order, so a page is a short index range. ``updated_at``: the Last-Modified of Open311.

Revision ID: e1f2a3b4c5d6
Revises: b20f4d05c9a3
Create Date: 2026-12-02 07:10:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e1f2a3b4c5d6'
down_revision = 'b20f4d05c9a3'
branch_labels = None
depends_on = None

INDEXES = {
    'ix_service_request_requested_at_id': ['requested_at', 'id'],
    'ix_service_request_code_requested': ['service_code', 'requested_at', 'id'],
    'ix_service_request_status_requested': ['status', 'requested_at', 'id'],
    'ix_service_request_code_status_requested': ['service_code', 'status', 'requested_at', 'id'],
    'ix_service_request_updated_at': ['updated_at'],
}


def upgrade():
    with op.batch_alter_table('service_request', schema=None) as batch_op:
        for name, columns in INDEXES.items():
            batch_op.create_index(name, columns, unique=False)


def downgrade():
    with op.batch_alter_table('service_request', schema=None) as batch_op:
        for name in INDEXES:
            batch_op.drop_index(name)

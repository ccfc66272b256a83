"""Staff TOTP secrets encrypted at rest: the column widens to hold a Fernet token (140
characters for a 32-character secret) and every stored base32 secret is encrypted with the
configured key (webapp/auth/crypto.py: TOTP_ENCRYPTION_KEY, or the one derived from SECRET_KEY),
so run it with the production configuration. Downgrade decrypts them again.

Revision ID: a43d4038c1d3
Revises: b13a0e311a01
Create Date: 2026-12-02 11:40:00

"""
from alembic import op
import sqlalchemy as sa
from cryptography.fernet import InvalidToken
from flask import current_app

from webapp.auth import crypto


# revision identifiers, used by Alembic.
revision = 'a43d4038c1d3'
down_revision = 'b13a0e311a01'
branch_labels = None
depends_on = None

staff_user = sa.table('staff_user', sa.column('id', sa.Integer()),
                      sa.column('totp_secret', sa.String()),
                      sa.column('totp_confirmed_at', sa.DateTime()))


def _rows(conn):
    return conn.execute(sa.select(staff_user.c.id, staff_user.c.totp_secret)
                        .where(staff_user.c.totp_secret.is_not(None))).all()


def _is_token(value: str) -> bool:
    try:
        crypto.decrypt(value, current_app.config)
    except (InvalidToken, UnicodeError):
        return False
    return True


def upgrade():
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.alter_column('totp_secret', existing_type=sa.String(length=64),
                              type_=sa.String(length=255), existing_nullable=True)
    conn = op.get_bind()
    for row_id, value in _rows(conn):
        if not _is_token(value):  # run twice, or a row written by newer code: already done
            conn.execute(staff_user.update().where(staff_user.c.id == row_id)
                         .values(totp_secret=crypto.encrypt(value, current_app.config)))


def downgrade():
    conn = op.get_bind()
    for row_id, value in _rows(conn):
        try:
            plain = crypto.decrypt(value, current_app.config)
        except (InvalidToken, UnicodeError):
            # Unreadable with this key (or already plain): a plain base32 secret fits and
            # stays; anything else is dropped and the user enrols again.
            if len(value) <= 64:
                continue
            conn.execute(staff_user.update().where(staff_user.c.id == row_id)
                         .values(totp_secret=None, totp_confirmed_at=None))
            continue
        conn.execute(staff_user.update().where(staff_user.c.id == row_id)
                     .values(totp_secret=plain))
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.alter_column('totp_secret', existing_type=sa.String(length=255),
                              type_=sa.String(length=64), existing_nullable=True)

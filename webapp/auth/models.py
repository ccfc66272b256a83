"""Staff users and their recovery codes."""
from __future__ import annotations

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.auth.crypto import EncryptedText
from webapp.clock import UTCDateTime, utcnow
from webapp.extensions import db

ROLES = ("operator", "admin")


class StaffUser(UserMixin, db.Model):
    """An operator or admin of the Contact Centre.

    ``password_hash`` is argon2id (argon2-cffi's encoded form). ``totp_secret`` is base32 in
    Python and Fernet-encrypted in the database (:mod:`webapp.auth.crypto`); it is set at
    enrolment; until ``totp_confirmed_at`` the account cannot finish a login without
    enrolling. ``session_generation`` is part of the session's user id: bumping it logs the user
    out everywhere. ``failed_logins``/``locked_until`` (UTC) make the temporary lock.
    """

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False, default="")
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    totp_secret: Mapped[str | None] = mapped_column(EncryptedText())
    totp_confirmed_at: Mapped[object | None] = mapped_column(UTCDateTime())
    # The last TOTP time step used, so one code cannot be replayed within its 30 s window.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    session_generation: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[object | None] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    last_login_at: Mapped[object | None] = mapped_column(UTCDateTime())

    recovery_codes = relationship("RecoveryCode", back_populates="user", cascade="all, delete-orphan")

    def get_id(self) -> str:
        """Flask-Login's session id: ``"<id>:<generation>"``."""
        return f"{self.id}:{self.session_generation}"

    @property
    def is_active(self) -> bool:
        return bool(self.active)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class RecoveryCode(db.Model):
    """A single-use recovery code, stored as HMAC-SHA256 with ``SECRET_KEY`` (the codes are
    random, 50 bits each, so a keyed fast hash is enough). ``used_at`` (UTC) once used."""

    __tablename__ = "staff_recovery_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"),
                                         index=True, nullable=False)
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    used_at: Mapped[object | None] = mapped_column(UTCDateTime())

    user = relationship("StaffUser", back_populates="recovery_codes")

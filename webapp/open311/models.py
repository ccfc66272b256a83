"""API keys of third-party apps that file reports through Open311 ``POST requests``."""
from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.clock import UTCDateTime, utcnow
from webapp.extensions import db


class ApiKey(db.Model):
    """One app's key. Only the SHA-256 hex digest of the token is kept (the token is shown once,
    when made); ``rate_limit`` is a Flask-Limiter string (``"100 per hour;10 per minute"``) or
    None for the ``OPEN311_KEY_RATE_LIMIT`` default; ``revoked_at`` set means refused."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    contact: Mapped[str] = mapped_column(String(254), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    rate_limit: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[object] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    revoked_at: Mapped[object | None] = mapped_column(UTCDateTime())

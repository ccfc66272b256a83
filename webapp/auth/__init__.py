"""Staff accounts (operators and admins): passwords (argon2), TOTP, recovery codes, sessions.

Flask-Login's ``login_manager`` is bound here. A staff session names the user *and* their
session generation; "log out everywhere" bumps the generation so every other session ends.
"""
from __future__ import annotations

import os

from webapp.auth import crypto, models  # noqa: F401  (the tables)
from webapp.auth import session as staff_session
from webapp.auth.cli import users_cli
from webapp.auth.views import bp


def init_app(app) -> None:
    """Bind Flask-Login, register the model, the ``/admin`` login routes and ``flask users``.
    Reads ``TOTP_ENCRYPTION_KEY`` (see :mod:`webapp.auth.crypto`); a malformed one stops the
    start with ``ValueError``."""
    app.config.setdefault("TOTP_ENCRYPTION_KEY", os.environ.get("TOTP_ENCRYPTION_KEY") or None)
    crypto.configured_keys(app.config)
    staff_session.init_app(app)
    app.register_blueprint(bp)
    app.cli.add_command(users_cli)

"""Flask-Login binding and the staff session rules (cookie flags, idle timeout)."""
from __future__ import annotations

import os

from flask import Flask

from webapp.auth.services import load_session_user
from webapp.extensions import login_manager


def init_app(app: Flask) -> None:
    """Bind ``login_manager``; make the session cookie Secure when the public address is https
    (the cookie is already HttpOnly and SameSite=Lax, see :mod:`webapp.config`)."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    # The message is shown by the login page itself; Flask-Login's flash is not used.
    login_manager.login_message = None
    login_manager.session_protection = "basic"
    if str(app.config.get("PUBLIC_BASE_URL", "")).startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    # Read here rather than in webapp/config.py so this package brings its own settings.
    app.config.setdefault("STAFF_IDLE_MINUTES", int(os.environ.get("STAFF_IDLE_MINUTES", "30")))
    app.config.setdefault("STAFF_MAX_FAILED_LOGINS", int(os.environ.get("STAFF_MAX_FAILED_LOGINS", "5")))
    app.config.setdefault("STAFF_LOCK_MINUTES", int(os.environ.get("STAFF_LOCK_MINUTES", "15")))
    app.config.setdefault("STAFF_LOGIN_RATE_LIMIT",
                          os.environ.get("STAFF_LOGIN_RATE_LIMIT", "20 per minute;100 per hour"))

    @login_manager.user_loader
    def _load(session_id: str):
        return load_session_user(session_id)

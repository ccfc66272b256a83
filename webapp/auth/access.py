"""The one gate of every staff route: :func:`staff_required`."""
from __future__ import annotations

import time
from functools import wraps

from flask import abort, current_app, redirect, request, session, url_for
from flask_login import current_user, logout_user

from webapp.negotiation import is_htmx

SEEN_KEY = "staff_seen"


def _to_login():
    target = url_for("auth.login", next=request.full_path if request.method == "GET" else None)
    if is_htmx():
        # htmx follows HX-Redirect with a full page load instead of swapping a login form in.
        response = current_app.response_class(status=401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def staff_required(role: str | None = None):
    """Decorator: the view needs a logged-in staff user (any role, or ``"admin"``).

    Anonymous visitors and anyone holding only a unit link get a redirect to the login page
    (401 with ``HX-Redirect`` for htmx); an operator on an admin route gets 403. A session
    idle for longer than ``STAFF_IDLE_MINUTES`` (30) is ended.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return _to_login()
            now = int(time.time())
            idle = int(current_app.config.get("STAFF_IDLE_MINUTES", 30)) * 60
            seen = session.get(SEEN_KEY)
            if not isinstance(seen, int) or now - seen > idle:
                logout_user()
                session.clear()
                return _to_login()
            session[SEEN_KEY] = now
            if role == "admin" and not current_user.is_admin:
                abort(403)
            return view(*args, **kwargs)

        wrapper.staff_role = role or "operator"
        return wrapper

    return decorator

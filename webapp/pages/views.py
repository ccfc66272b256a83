"""Home, the portal's rules, how reports are handled, personal data, and the health check."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template

from webapp.dispatch.services import dead_count
from webapp.extensions import db
from webapp.information import rules as versions
from webapp.information.views import privacy_notice
from webapp.photos.storage import StorageUnavailable, get_storage

bp = Blueprint("pages", __name__)


@bp.get("/")
def home():
    """The landing page: what the portal is for, and what it is not for (112)."""
    return render_template("pages/home.html")


@bp.get("/about")
def about():
    """How reports are handled: which unit handles which category, automatically or through an
    operator (regulamin pkt 2 and 3)."""
    return render_template("pages/about.html")


@bp.get("/rules")
def rules():
    """The portal's rules (regulamin) in force today, in Polish, as published by the city; its
    versions are kept in ``content/rules/regulamin/`` (see :mod:`webapp.information.rules`)."""
    root = current_app.config["CONTENT_DIR"]
    current = versions.current(root, "regulamin", versions.today_local())
    return render_template("pages/rules.html", version=current, current=current)


@bp.get("/privacy")
def privacy():
    """What personal data is kept and why (regulamin pkt 5, RODO art. 13): the privacy notice
    from ``content/privacy/``."""
    return privacy_notice()


@bp.get("/healthz")
def healthz():
    """200 ``{"status": "ok", "database": "ok", "outbox_dead": N}`` when the database answers
    and the photo store takes files (N: e-mails that could not be delivered, see ``flask outbox
    list --dead``; one indexed count, which doubles as the database check); 503 otherwise
    (``"database": "unreachable"`` or ``"storage": "unwritable"``)."""
    try:
        dead = dead_count()
    except Exception:  # noqa: BLE001 - any database failure means "not healthy"
        db.session.rollback()
        return jsonify({"status": "error", "database": "unreachable"}), 503
    check = getattr(get_storage(), "check_writable", None)
    try:
        if check is not None:
            check()
    except StorageUnavailable:
        return jsonify({"status": "error", "storage": "unwritable"}), 503
    return jsonify({"status": "ok", "database": "ok", "outbox_dead": dead})

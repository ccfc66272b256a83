"""Home page and the health check."""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from sqlalchemy import text

from webapp.extensions import db

bp = Blueprint("pages", __name__)


@bp.get("/")
def home():
    return render_template("pages/home.html")


@bp.get("/healthz")
def healthz():
    """200 ``{"status": "ok"}`` when the database answers, 503 otherwise."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any database failure means "not healthy"
        db.session.rollback()
        return jsonify({"status": "error", "database": "unreachable"}), 503
    return jsonify({"status": "ok"})


@bp.get("/about")
def about():
    return render_template("pages/about.html")


@bp.get("/rules")
def rules():
    return render_template("pages/rules.html")


@bp.get("/privacy")
def privacy():
    return render_template("pages/privacy.html")

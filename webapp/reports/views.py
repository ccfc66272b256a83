"""The report form, submission and the private tracking page."""
from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("reports", __name__)


@bp.get("/report")
def new():
    return render_template("reports/new.html")


@bp.get("/t/<token>")
def track(token):
    return "TODO"

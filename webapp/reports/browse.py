"""Public list and detail pages of reports."""
from __future__ import annotations

from webapp.reports.views import bp


@bp.get("/reports")
def index():
    return "TODO"


@bp.get("/reports/<int:report_id>")
def detail(report_id):
    return "TODO"

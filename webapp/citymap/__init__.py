"""The city map: reports by bounding box (GeoJSON), the ``/map`` page, the "already reported?"
hint of the form and "me too" supports.

Sits between departments and reports in the layers: it reads reports (queries, models) and
owns only its ``report_support`` table; open311 and dispatch above may read supports.
"""
from __future__ import annotations

from webapp.citymap import models, views  # noqa: F401  (models: the tables)
from webapp.citymap.queries import support_count


def init_app(app) -> None:
    """Register the ``citymap`` blueprint and the ``support_count`` template global (the report
    page shows the count without the reports package knowing of supports)."""
    app.register_blueprint(views.bp)
    app.jinja_env.globals["support_count"] = support_count

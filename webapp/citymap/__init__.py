"""The city map: reports by bounding box (GeoJSON), the ``/map`` page, the "already reported?"
hint of the form and "me too" supports.

Sits between departments and reports in the layers: it reads reports (queries, models) and
owns only its ``report_support`` table; open311 and dispatch above may read supports.
"""
from __future__ import annotations

import uuid

from webapp.citymap import models, views  # noqa: F401  (models: the tables)
from webapp.citymap.geojson import STATUS_SYMBOLS
from webapp.citymap.models import Support
from webapp.citymap.queries import support_count
from webapp.citymap.services import notice_subscribers
from webapp.reports import queries as report_queries
from webapp.reports import services as report_services
from webapp.reports.models import Status


def init_app(app) -> None:
    """Register the ``citymap`` blueprint, the template globals ``support_count``,
    ``status_symbol``, ``map_statuses`` (every status, for the legends) and ``new_supporter_id`` (the report page and form include the
    ``map/`` parts without the reports package knowing of supports), and the supporters as
    extra recipients of status e-mails (``reports.services.NOTICE_SUBSCRIBERS``) and its table in
    the public answers' data version (``reports.queries.VERSION_TABLES``)."""
    app.register_blueprint(views.bp)
    if notice_subscribers not in report_services.NOTICE_SUBSCRIBERS:
        report_services.NOTICE_SUBSCRIBERS.append(notice_subscribers)
    # A "me too" changes Open311's support_count: part of the answers' data version (ETag).
    if Support.__tablename__ not in report_queries.VERSION_TABLES:
        report_queries.VERSION_TABLES.append(Support.__tablename__)
    app.jinja_env.globals.update(
        map_statuses=tuple(Status),
        support_count=support_count,
        status_symbol=lambda status: STATUS_SYMBOLS.get(status, "•"),
        new_supporter_id=lambda: str(uuid.uuid4()))

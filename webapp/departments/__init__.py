"""Departments: signed links through which a unit's staff update a report without an account."""
from __future__ import annotations


def init_app(app) -> None:
    """Register the link model and the ``departments`` blueprint."""
    from webapp.departments import models  # noqa: F401
    from webapp.departments.views import bp
    app.register_blueprint(bp)

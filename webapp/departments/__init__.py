"""Departments: signed links through which a unit's staff update a report without an account."""
from __future__ import annotations


def init_app(app) -> None:
    from webapp.departments import models  # noqa: F401

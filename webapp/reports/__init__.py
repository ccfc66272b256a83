"""Reports: the resident's form, submission, public pages and tracking."""
from __future__ import annotations


def init_app(app) -> None:
    from webapp.reports import models  # noqa: F401

"""Open311 GeoReport v2 read API."""
from __future__ import annotations


def init_app(app) -> None:
    pass

"""Routing: which city unit must act on a report (rules in ``routing.toml``)."""
from __future__ import annotations


def init_app(app) -> None:
    pass

"""Dispatch: the outbox table, the worker that sends it, and e-mail."""
from __future__ import annotations


def init_app(app) -> None:
    from webapp.dispatch import models  # noqa: F401

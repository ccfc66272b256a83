"""Dispatch: the outbox table, the worker that sends it, and e-mail."""
from __future__ import annotations


def init_app(app) -> None:
    """Register the outbox model and the ``flask worker`` / ``flask serve`` commands."""
    from webapp.dispatch import models  # noqa: F401
    from webapp.dispatch import cli
    cli.init_app(app)

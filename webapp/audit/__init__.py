"""Audit trail of staff actions (issue 7): who, when (UTC), what, before and after.

Append-only: the panel shows and filters it (``webapp.moderation.audit_views``, so this
package imports nothing above it); no route edits or deletes an entry.
"""
from __future__ import annotations

from webapp.audit import models  # noqa: F401  (the table)


def init_app(app) -> None:
    """Nothing to bind: importing the package registers the audit model."""

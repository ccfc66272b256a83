"""The installable, offline-first app: service worker, web manifest, offline and install pages.

The browser half lives in ``static/sw.js`` (caching strategies, Background Sync) and
``static/js/{outbox,pwa,drafts,photos,lists,sending,dom}.js`` (drafts in IndexedDB, sending, "my reports").
"""
from __future__ import annotations


def init_app(app) -> None:
    """Register the PWA blueprint and the ``pwa_status_labels`` and ``pwa_build`` template globals."""
    from webapp.pwa.views import bp, build_id
    app.register_blueprint(bp)
    app.jinja_env.globals["pwa_build"] = build_id
    app.jinja_env.globals["pwa_status_labels"] = status_labels


def status_labels() -> dict[str, str]:
    """``{status value: translated label}`` for the "my reports" list drawn by the browser."""
    from webapp.reports.models import STATUS_LABELS
    return {status.value: str(label) for status, label in STATUS_LABELS.items()}

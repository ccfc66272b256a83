"""Status notifications for residents who asked for them: Web Push to a phone and e-mail, with
one-click unsubscribe, and erasure of e-mail addresses after the retention period (RODO).

Sits above ``reports`` and ``dispatch``: it listens to ``report_status_changed`` and queues its
messages through the dispatch outbox (``kind="push"``, sent by :func:`services.send_push`).
"""
from __future__ import annotations

from pathlib import Path

from webapp.dispatch.services import register_sender
from webapp.dispatch.worker import register_periodic
from webapp.push import cli, keys, models, services, views  # noqa: F401  (models: the table)
from webapp.reports.signals import report_status_changed


def init_app(app) -> None:
    """Load (or make) the VAPID keys, register the model, routes, outbox sender, signal
    receiver, the worker's retention job and ``flask push``."""
    pem = keys.load_private_pem(app.config.get("VAPID_PRIVATE_KEY"), Path(app.instance_path))
    app.extensions["push"] = {"private_pem": pem, "public_key": keys.public_key_b64(pem)}
    app.register_blueprint(views.bp)
    app.jinja_env.globals["config_push_key"] = lambda: app.extensions["push"]["public_key"]
    register_sender(services.PUSH_KIND, services.send_push)
    register_periodic("erase-expired-emails", float(app.config.get("EMAIL_RETENTION_CHECK_SECONDS", 3600)),
                      services.erase_expired_emails)
    # weak=False: the receiver is a module function, but keep it alive regardless of imports.
    report_status_changed.connect(services.on_status_changed, weak=False)
    cli.init_app(app)

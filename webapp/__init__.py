"""ŁCKzM: the Łódź resident reporting portal.

``create_app(config=None)`` builds the Flask application; each domain package registers its
blueprint, CLI commands and models here.
"""
from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from webapp import config as config_module
from webapp.extensions import compress, csrf, db, htmx, limiter, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict | None = None) -> Flask:
    """Create the application.

    ``config`` overrides values read from the environment (see :mod:`webapp.config`).
    Raises :class:`webapp.routing.config.RoutingConfigError` when ``routing.toml`` is invalid,
    so a broken file stops the start instead of misrouting reports.
    """
    instance_path = Path(os.environ.get("INSTANCE_PATH") or (config or {}).get("INSTANCE_PATH")
                         or ROOT / "instance")
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    instance_path.mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(config_module.from_environment(instance_path, ROOT))
    if config:
        app.config.update(config)
    # Imported here like the domains below (`flask routing check` must not load them).
    from webapp import database, logs
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = database.engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"], app.config.get("SQLALCHEMY_ENGINE_OPTIONS"))
    logs.init_app(app)

    db.init_app(app)
    database.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    compress.init_app(app)

    # Imported here, not at the top: `flask routing check` imports webapp.routing.cli, hence
    # this package, and must not load every domain (nor need a valid app) to check a file.
    # inputs: after htmx (its request class is kept), before any blueprint (rules take
    # converters then).
    from webapp import inputs, i18n, security, errors
    inputs.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    errors.init_app(app)

    # Domain packages (imported here for the same reason): each owns its blueprint, models,
    # CLI commands and the listeners it connects to the signals of the domains below it.
    from webapp import (geo, routing, photos, reports, dispatch, departments, open311, pages, pwa,
                        push, information, audit, auth, moderation)
    for module in (geo, routing, photos, reports, dispatch, departments, open311, pages, pwa, push,
                   information, audit, auth, moderation):
        module.init_app(app)

    return app

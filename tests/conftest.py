"""Shared fixtures: a real database (SQLite file, or PostgreSQL when TEST_DATABASE_URL is set)
migrated with Alembic, an app per test with empty tables, and small factories."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

pytest_plugins = ["tests.smtp"]
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PHOTOS = FIXTURES / "photos"


def fixture_photo(name: str) -> Path:
    """Path of a test photo (copied from ``../shared/data/photos`` into tests/fixtures/photos)."""
    return PHOTOS / name


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """One database for the whole run, migrated once with ``flask db upgrade``.

    With ``TEST_DATABASE_URL`` (PostgreSQL) the run gets its own schema, dropped at the end, so
    parallel runs do not see each other's rows.
    """
    base = os.environ.get("TEST_DATABASE_URL")
    engine_options = {}
    schema = None
    if base:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(base)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = base
        engine_options = {"connect_args": {"options": f"-csearch_path={schema}"}}
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"

    from flask_migrate import upgrade
    from webapp import create_app
    app = create_app(_config(tmp_path_factory.mktemp("instance"), url, engine_options))
    with app.app_context():
        upgrade()
    yield url, engine_options
    if schema:
        admin = create_engine(base)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _config(instance: Path, url: str, engine_options: dict) -> dict:
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, **engine_options},
        "MEDIA_ROOT": str(instance / "media"),
        "MAIL_OUTBOX_DIR": str(instance / "outbox"),
        "MAIL_SERVER": None,
        "RATELIMIT_ENABLED": False,
        "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
    }


@pytest.fixture
def make_app(database_url, tmp_path):
    """Factory: ``make_app(**overrides)`` returns an app on the shared test database.

    Tables are emptied after the test, so each test starts with no rows.
    """
    from webapp import create_app
    from webapp.extensions import db
    url, engine_options = database_url
    apps = []

    def factory(**overrides):
        config = _config(tmp_path, url, engine_options)
        config.update(overrides)
        app = create_app(config)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    if apps:
        # Empty the tables through an app on the test database (a test may have pointed its
        # own app elsewhere, e.g. at a dead server).
        cleaner = create_app(_config(tmp_path, url, engine_options))
        with cleaner.app_context():
            for table in reversed(db.metadata.sorted_tables):
                db.session.execute(table.delete())
            db.session.commit()
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()

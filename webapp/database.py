"""Database engine settings that depend on the backend.

SQLite (the quick start, ``make run``) serves many threads from one file: every connection gets
WAL journaling (readers never wait for the writer), a busy timeout (a writer waits for the
lock instead of failing with "database is locked"); and connections are not
pooled (:class:`~sqlalchemy.pool.NullPool`: opening a SQLite file costs microseconds, and a
fixed pool smaller than the server's thread count failed with "QueuePool limit reached").
PostgreSQL keeps SQLAlchemy's default pool.
"""
from __future__ import annotations

from flask import Flask
from sqlalchemy import event
from sqlalchemy.pool import NullPool

#: How long a SQLite writer waits for another one to finish (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 30_000


def engine_options(url: str, options: dict | None) -> dict:
    """``SQLALCHEMY_ENGINE_OPTIONS`` for ``url``: for a SQLite file, ``poolclass=NullPool``
    unless the caller chose a pool. Returns a new dict; ``options`` is not changed."""
    result = dict(options or {})
    if url.startswith("sqlite") and ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
        result.setdefault("poolclass", NullPool)
    return result


def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; fsync at checkpoints
    finally:
        cursor.close()


def init_app(app: Flask) -> None:
    """Set the per-connection pragmas on the app's SQLite engines (none for other backends).

    Must run after ``db.init_app(app)`` (the engines exist then) and before any connection.
    """
    from webapp.extensions import db
    with app.app_context():
        for engine in db.engines.values():
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)

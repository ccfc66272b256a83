"""Database engine settings that depend on the backend.

SQLite (the quick start, ``make run``) serves many threads from one file: every connection gets
WAL journaling (readers never wait for the writer), a busy timeout (a writer waits for the
lock instead of failing with "database is locked"); and connections are pooled without a
limit (:class:`~sqlalchemy.pool.QueuePool`, ``max_overflow=-1``: a fixed limit smaller than the
server's thread count failed with "QueuePool limit reached", while opening a connection per
request, with its pragmas, was about 1.5 ms of CPU, a third of ``/healthz``; issue 12).
Within one process, writers also take turns on a lock (:func:`_take_write_turn`): SQLite's
busy handler polls, and under 200 concurrent residents the polling writers starved each other
past any busy timeout; threads waiting on a lock are woken as soon as the writer commits.
PostgreSQL keeps SQLAlchemy's default pool and none of this.
"""
from __future__ import annotations

import threading

from flask import Flask
from sqlalchemy import event
from sqlalchemy.pool import QueuePool
from webapp.extensions import db

#: SQLite connections kept open per process; more are opened when needed (never a limit) and
#: closed when returned.
SQLITE_POOL_SIZE = 8
#: How long a SQLite writer waits for another process's writer to finish (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: How long a writer waits for its turn among this process's threads (seconds); after that it
#: goes on and SQLite's busy timeout decides.
WRITE_TURN_TIMEOUT_S = 300
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_write_lock = threading.RLock()


def engine_options(url: str, options: dict | None) -> dict:
    """``SQLALCHEMY_ENGINE_OPTIONS`` for ``url``: for a SQLite file, a :class:`QueuePool` of
    :data:`SQLITE_POOL_SIZE` with no overflow limit, unless the caller chose a pool class.
    Returns a new dict; ``options`` is not changed."""
    result = dict(options or {})
    if url.startswith("sqlite") and ":memory:" not in url and url not in ("sqlite://", "sqlite:///") \
            and "poolclass" not in result:
        result.update(poolclass=QueuePool, max_overflow=-1)
        result.setdefault("pool_size", SQLITE_POOL_SIZE)
    return result


def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; fsync at checkpoints
    finally:
        cursor.close()


def _take_write_turn(conn, cursor, statement, parameters, context, executemany) -> None:
    """Before the first write of a transaction, wait for this process's other writers."""
    if conn.info.get("write_turn") or not statement.lstrip()[:7].upper().startswith(_WRITE_VERBS):
        return
    if _write_lock.acquire(timeout=WRITE_TURN_TIMEOUT_S):
        conn.info["write_turn"] = True


def _end_write_turn(info: dict) -> None:
    if info.pop("write_turn", False):
        _write_lock.release()


def _on_commit_or_rollback(conn) -> None:
    _end_write_turn(conn.info)


def _on_pool_checkin(dbapi_connection, connection_record) -> None:
    # A connection returned or closed without commit/rollback through the Connection.
    if connection_record is not None:
        _end_write_turn(connection_record.info)


def _on_pool_reset(dbapi_connection, connection_record, reset_state) -> None:
    _on_pool_checkin(dbapi_connection, connection_record)


def init_app(app: Flask) -> None:
    """Set the per-connection pragmas on the app's SQLite engines (none for other backends).

    Must run after ``db.init_app(app)`` (the engines exist then) and before any connection.
    """
    with app.app_context():
        for engine in db.engines.values():
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
                event.listen(engine, "before_cursor_execute", _take_write_turn)
                event.listen(engine, "commit", _on_commit_or_rollback)
                event.listen(engine, "rollback", _on_commit_or_rollback)
                event.listen(engine.pool, "reset", _on_pool_reset)
                event.listen(engine.pool, "checkin", _on_pool_checkin)

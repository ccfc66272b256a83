"""Running the portal: the SQLite quick start under concurrent writers, a database that cannot
be reached, logging with request ids, and Redis as the rate-limit storage."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.helpers import report_form
from webapp.extensions import db

ROOT = Path(__file__).resolve().parent.parent


def test_sqlite_connections_use_wal_and_wait_for_the_writer(make_app, database_url):
    if not database_url[0].startswith("sqlite"):
        pytest.skip("SQLite settings")
    app = make_app()
    with app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() >= 10_000
        # Pooled, but never "QueuePool limit reached": more threads than the pool's size each
        # get a connection at once.
        connections = [db.engine.connect() for _ in range(db.engine.pool.size() + 4)]
        for connection in connections:
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 10_000
            connection.close()


@pytest.mark.parametrize("path, marker", [("/reports", "Przerwa techniczna"),
                                          ("/open311/v2/requests.json", "temporarily"),
                                          ("/report", "Przerwa techniczna")])
def test_an_unreachable_database_answers_503_with_the_maintenance_notice(make_app, path, marker):
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    app = make_app(SQLALCHEMY_DATABASE_URI="postgresql://lckzm@127.0.0.1:1/lckzm",
                   SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 2}})
    c = app.test_client()
    r = c.get(path)
    if path == "/report":  # the form needs no database; sending it does
        r = c.post("/report", data=report_form(c))
    assert r.status_code == 503
    assert r.headers["Retry-After"]
    body = r.get_data(as_text=True)
    if path.startswith("/open311"):
        assert r.get_json()[0]["code"] == 503
    else:
        assert marker in body


def _run_app(tmp_path, code: str, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("TRUSTED_", "LOG_"))}
    environ.update(INSTANCE_PATH=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite'}",
                   SECRET_KEY="k", **env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=60, check=True)


_REQUEST = """
from webapp import create_app
c = create_app().test_client()
r = c.get('/manifest.json', headers={'X-Request-ID': 'nginx-abc123'})  # no tables needed
print(r.headers['X-Request-ID'])
"""
_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO \[(?P<rid>[^\]]+)\] "
                   r"webapp\.access: GET /manifest\.json 200 [0-9.]+ ms$", re.M)


def test_every_log_line_has_utc_time_level_and_the_request_id(tmp_path):
    direct = _run_app(tmp_path, _REQUEST, LOG_LEVEL="INFO")
    rid = direct.stdout.strip()
    assert rid != "nginx-abc123" and len(rid) >= 16  # not trusted without a proxy
    match = _LINE.search(direct.stderr)
    assert match and match["rid"] == rid, direct.stderr

    proxied = _run_app(tmp_path, _REQUEST, LOG_LEVEL="INFO", TRUSTED_PROXIES="1")
    assert proxied.stdout.strip() == "nginx-abc123"
    assert _LINE.search(proxied.stderr)["rid"] == "nginx-abc123"

    quiet = _run_app(tmp_path, _REQUEST, LOG_LEVEL="WARNING")
    assert "webapp.access" not in quiet.stderr


REDIS_URL = os.environ.get("TEST_REDIS_URL")


@pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL not set (.ci/run sets it and starts Redis)")
def test_rate_limits_are_shared_through_redis(make_app):
    """Two app instances (two gunicorn workers) count in one Redis bucket."""
    import redis
    prefix = f"lckzm-test-{os.getpid()}"
    settings = dict(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=REDIS_URL,
                    RATELIMIT_KEY_PREFIX=prefix, REPORT_RATE_LIMIT="1 per minute")
    one, two = make_app(**settings), make_app(**settings)
    try:
        c1, c2 = one.test_client(), two.test_client()
        assert c1.post("/report", data=report_form(c1)).status_code == 303
        assert c2.post("/report", data=report_form(c2)).status_code == 429
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"*{prefix}*"):
            client.delete(key)

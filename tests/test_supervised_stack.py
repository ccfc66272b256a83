"""Black box: the production layout (``scripts/serve_production.sh``: supervisord, gunicorn,
outbox workers) keeps serving when a process is killed, and brings the process back."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


@pytest.fixture
def stack(tmp_path):
    """The stack on a free port with its own SQLite database; stopped (SIGTERM) afterwards."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MAIL_SERVER")}
    env.update(BIN=str(BIN), PORT=str(port), INSTANCE_PATH=str(tmp_path), SECRET_KEY="k",
               DATABASE_URL=f"sqlite:///{tmp_path / 'stack.sqlite'}", WEB_WORKERS="2",
               OUTBOX_WORKERS="2", WORKER_POLL_SECONDS="0.5", LOG_LEVEL="WARNING",
               SUPERVISOR_DIR=str(tmp_path / "supervisor"))
    log = open(tmp_path / "stack.log", "wb")
    proc = subprocess.Popen([str(ROOT / "scripts" / "serve_production.sh")], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def status() -> dict[str, int]:
        """{process name: pid} of the RUNNING processes, from supervisorctl."""
        out = subprocess.run([str(BIN / "supervisorctl"), "-c", str(ROOT / "deploy" / "supervisord.conf"),
                              "status"], env={**env, "APP_DIR": str(ROOT), "BIND": "-"},
                             capture_output=True, text=True, timeout=20).stdout
        return {m[1]: int(m[2]) for m in re.finditer(r"^(\S+)\s+RUNNING\s+pid (\d+)", out, re.M)}

    try:
        _wait_for(lambda: _healthy(base), 90, "the stack to answer /healthz")
        _wait_for(lambda: len(status()) == 3, 60, "web and two outbox workers RUNNING")
        yield base, status
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _healthy(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def test_killed_processes_come_back_and_the_web_keeps_serving(stack):
    base, status = stack
    before = status()
    victim = before["outbox:outbox_0"]
    os.kill(victim, signal.SIGKILL)
    # The web answers while the worker is down and after, without interruption.
    assert requests.get(f"{base}/reports", timeout=10).status_code == 200
    after = _wait_for(lambda: (s := status()).get("outbox:outbox_0") not in (None, victim) and s,
                      60, "a new outbox_0 process")
    assert after["outbox:outbox_1"] == before["outbox:outbox_1"]  # the other one was left alone
    assert after["web"] == before["web"]
    assert requests.get(f"{base}/reports", timeout=10).status_code == 200

    # The web server itself (one stack start for both cases: it takes seconds).
    victim = after["web"]
    os.kill(victim, signal.SIGKILL)  # gunicorn's master; it restarts its own workers itself
    _wait_for(lambda: status().get("web") not in (None, victim), 60, "a new web process")
    _wait_for(lambda: _healthy(base), 60, "the web to answer again")

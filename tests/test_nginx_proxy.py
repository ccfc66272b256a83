"""Black box through a real reverse proxy: Debian's nginx on loopback in front of the app
(``make test`` installs nginx-light when it is missing, as it does Chromium)."""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time

import pytest
import requests
from flask import url_for
from werkzeug.serving import make_server

from tests.helpers import CSRF_RE

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if shutil.os.path.exists("/usr/sbin/nginx") else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx not installed (make test installs it)")

CONF = """
daemon off;
master_process off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    client_max_body_size 20m;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{app_port};
            proxy_set_header Host $host:$server_port;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            # TLS ends at the proxy in production; here the test stands in for that.
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header X-Request-ID $request_id;
        }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port} after {timeout} s")


@pytest.fixture
def behind_nginx(make_app, tmp_path):
    """(app, proxy base URL, app base URL): the app (one trusted proxy, 1 report a minute)
    served by werkzeug, with nginx in front."""
    app = make_app(TRUSTED_PROXIES=1, RATELIMIT_ENABLED=True, REPORT_RATE_LIMIT="1 per minute",
                   REPORT_ATTEMPT_RATE_LIMIT="100 per minute")

    @app.get("/_test/link")
    def _link():
        return url_for("pages.home", _external=True)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = _free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(CONF.format(tmp=tmp_path, port=port, app_port=server.server_port))
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_port(port)
        yield app, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{server.server_port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        server.shutdown()
        thread.join(timeout=10)


def _post_report(session: requests.Session, base: str, **headers) -> requests.Response:
    """Post a report through ``base`` as a browser on the https site would (with a Referer:
    Flask-WTF requires one on https requests)."""
    headers.setdefault("Referer", "https://" + base.split("://")[1] + "/report")
    token = CSRF_RE.search(session.get(f"{base}/report", timeout=10).text)[1]
    data = {"csrf_token": token, "client_id": str(__import__("uuid").uuid4()),
            "service_code": "ROAD_POTHOLE", "description": "Dziura w jezdni przy przejściu.",
            "lat": "51.7592", "long": "19.4560"}
    return session.post(f"{base}/report", data=data, headers=headers, allow_redirects=False,
                        timeout=30)


def test_through_nginx_a_spoofed_forwarded_for_does_not_escape_the_limit(behind_nginx):
    app, proxy, _ = behind_nginx
    assert _post_report(requests.Session(), proxy, **{"X-Forwarded-For": "203.0.113.9"}).status_code == 303
    # nginx appends the real client address (127.0.0.1): a new spoofed value is ignored.
    r = _post_report(requests.Session(), proxy, **{"X-Forwarded-For": "198.51.100.1"})
    assert r.status_code == 429


def test_through_nginx_links_are_https_and_the_request_id_is_the_proxys(behind_nginx):
    app, proxy, direct = behind_nginx
    r = requests.get(f"{proxy}/_test/link", headers={"X-Request-ID": "chosen-by-client"}, timeout=10)
    assert r.text.startswith("https://127.0.0.1:")
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"])  # nginx's $request_id
    # Same-origin check: the browser's Origin is the proxy's address, which the app sees as
    # its own (Host and X-Forwarded-Proto from the trusted proxy).
    session = requests.Session()
    origin = "https://" + proxy.split("://")[1]
    assert _post_report(session, proxy, Origin=origin).status_code == 303
    assert _post_report(requests.Session(), proxy, Origin="https://evil.example").status_code == 403

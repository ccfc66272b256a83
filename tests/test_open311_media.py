"""DNS rebinding and the Open311 ``media_url`` fetch (issue 13): the host name is resolved once
per hop and the download connects to exactly the address that was checked.

No DNS server is available to the tests, so the resolver is replaced (``socket.getaddrinfo``)
by one that answers like a rebinding attacker's: a public address first, the server's own
network afterwards. Every outgoing ``connect`` is recorded; a connection to the public address
is refused on the spot (the tests have no internet), one to loopback reaches a real local
server that counts its requests.
"""
from __future__ import annotations

import socket
import ssl
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import fixture_photo
from webapp.extensions import db
from webapp.open311.apikeys import create_key
from webapp.reports.models import Report

INSIDE = {"lat": "51.7593", "long": "19.4573"}  # ul. Piotrkowska
PUBLIC = "93.184.216.34"  # a global address; nothing is ever sent to it (connect is refused)
REAL_GETADDRINFO = socket.getaddrinfo
REAL_CONNECT = socket.socket.connect


class _Server:
    """A real HTTP server on 127.0.0.1: ``/photo.jpg`` (a real photo), ``/hop`` (a redirect to
    ``http://rebind.example:<port>/photo.jpg``). Keeps the Host header of every request."""

    def __init__(self):
        photo = fixture_photo("gps_DSCN0010.jpg").read_bytes()
        hosts = self.hosts = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                hosts.append(self.headers.get("Host"))
                if self.path == "/photo.jpg":
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Content-Length", str(len(photo)))
                    self.end_headers()
                    self.wfile.write(photo)
                else:
                    self.send_response(302)
                    self.send_header("Location", f"http://rebind.example:{port}/photo.jpg")
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        port = self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server():
    running = _Server()
    yield running
    running.close()


@pytest.fixture
def network(monkeypatch):
    """The substitute resolver and the connect recorder. ``answers`` maps a name to its
    answers, one per lookup (the last repeats), each an address or a tuple of them;
    ``connects`` lists every (ip, port) connected to; ``lookups`` every name looked up."""

    class Network:
        answers: dict[str, list[str]] = {}
        connects: list[tuple] = []
        lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in Network.answers:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        Network.lookups.append(host)
        queue = Network.answers[host]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))
                for address in ((answer,) if isinstance(answer, str) else answer)]

    def connect(sock, address):
        Network.connects.append(address[:2])
        if address[0] == PUBLIC:
            raise ConnectionRefusedError("the tests have no internet")
        return REAL_CONNECT(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return Network


def _post(app, media_url, description="Dziura w jezdni przy przejściu"):
    with app.app_context():
        _k, token = create_key("Photo app", "a@example.org")
    return app.test_client().post("/open311/v2/requests.json", data={
        "api_key": token, "service_code": "ROAD_POTHOLE", "description": description,
        "media_url": media_url, **INSIDE})


def _reports(app):
    with app.app_context():
        return db.session.scalars(db.select(Report)).all()


def test_a_name_rebound_to_loopback_after_the_check_never_reaches_loopback(app, server, network):
    network.answers["rebind.example"] = [PUBLIC, "127.0.0.1"]
    response = _post(app, f"http://rebind.example:{server.port}/photo.jpg")
    assert response.status_code == 400
    assert "media_url" in response.get_json()[0]["description"]
    # One lookup, and the only connection went to the address that lookup gave and was checked.
    assert network.lookups == ["rebind.example"]
    assert network.connects == [(PUBLIC, server.port)]
    assert server.hosts == []
    assert _reports(app) == []


def test_a_redirect_is_resolved_once_and_connected_to_as_checked(make_app, server, network):
    # Loopback allowed (the tests' setting) so the first hop reaches the local server; the
    # redirect's name then rebinds from a public address to a private one.
    app = make_app(OPEN311_MEDIA_ALLOW_LOOPBACK=True)
    network.answers["photos.example"] = ["127.0.0.1"]
    network.answers["rebind.example"] = [PUBLIC, "10.1.2.3"]
    response = _post(app, f"http://photos.example:{server.port}/hop")
    assert response.status_code == 400
    assert network.lookups == ["photos.example", "rebind.example"]
    assert network.connects == [("127.0.0.1", server.port), (PUBLIC, server.port)]
    assert not any(ip.startswith("10.") for ip, _port in network.connects)


def test_the_pinned_connection_still_names_the_host(make_app, server, network):
    app = make_app(OPEN311_MEDIA_ALLOW_LOOPBACK=True)
    network.answers["photos.example"] = ["127.0.0.1"]
    response = _post(app, f"http://photos.example:{server.port}/photo.jpg")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert server.hosts == [f"photos.example:{server.port}"]
    assert network.lookups == ["photos.example"]
    [report] = _reports(app)
    with app.app_context():
        assert len(db.session.get(Report, report.id).photos) == 1


def test_a_name_with_any_private_address_is_refused_before_connecting(app, server, network):
    network.answers["mixed.example"] = [(PUBLIC, "169.254.169.254")]
    response = _post(app, f"http://mixed.example:{server.port}/photo.jpg")
    assert response.status_code == 400
    assert network.connects == [] and server.hosts == []


def _self_signed(tmp_path, name):
    """A self-signed certificate for ``name`` (no public CA trusts it): (cert path, key path)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_https_sends_the_name_as_sni_and_checks_the_certificate(make_app, network, tmp_path):
    # A TLS server on loopback reached as photos.example: the handshake must carry the name
    # (SNI), not the pinned IP, and its self-signed certificate must be refused.
    cert, key = _self_signed(tmp_path, "photos.example")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn, _addr = listener.accept()
        try:
            context.wrap_socket(conn, server_side=True).close()
        except (ssl.SSLError, OSError):
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    app = make_app(OPEN311_MEDIA_ALLOW_LOOPBACK=True)
    network.answers["photos.example"] = ["127.0.0.1"]
    try:
        response = _post(app, f"https://photos.example:{port}/photo.jpg")
    finally:
        thread.join(5)
        listener.close()
    assert response.status_code == 400
    assert names == ["photos.example"]
    assert network.connects == [("127.0.0.1", port)]

"""A Web Push service on loopback for tests (werkzeug), checking what a real one checks.

Every POST to ``/push/<id>`` must carry ``Authorization: vapid t=<JWT>,k=<public key>``
(RFC 8292): the JWT's ES256 signature is verified with ``k``, ``k`` must be the key the test
expects (the app's), ``aud`` must be this service's origin and ``exp`` in the future (at most
24 h). The body is decrypted (RFC 8291 ``aes128gcm``) with the subscription's private key and
auth secret, and kept as JSON in :attr:`PushService.received`. The answer is 201, or the next
one queued for that subscription with :meth:`PushService.answer` (e.g. 410, 429 with
``Retry-After``).
"""
from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """The browser half of one subscription: its P-256 key pair and 16-byte auth secret."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self) -> dict:
        """``PushSubscription.toJSON()`` as a browser sends it."""
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": b64url(raw), "auth": b64url(self.auth)}}


@dataclass
class Received:
    sub_id: str
    payload: dict
    headers: dict
    claims: dict


class PushService:
    """Start with :meth:`start`; ``url`` is its origin. ``expected_key``: the VAPID public key
    (base64url) every request must be signed with. ``delay``: seconds each request takes."""

    def __init__(self, expected_key: str):
        self.expected_key = expected_key
        self.browsers: dict[str, Browser] = {}
        self.received: list[Received] = []
        self.rejected: list[str] = []        # why requests were refused (a failed check)
        self.answers: dict[str, deque] = defaultdict(deque)
        self.requests: list[tuple[str, int, float]] = []   # (sub id, status, monotonic time)
        self.delay = 0.0
        self.lock = threading.Lock()
        self._server = None
        self._thread = None
        self.url = ""

    def start(self) -> "PushService":
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def browser(self, sub_id: str | None = None) -> Browser:
        """A new browser subscribed at ``/push/<sub_id>`` of this service."""
        sub_id = sub_id or b64url(os.urandom(9))
        browser = Browser(endpoint=f"{self.url}/push/{sub_id}")
        self.browsers[sub_id] = browser
        return browser

    def answer(self, sub_id: str, status: int, headers: dict | None = None) -> None:
        """Answer the next request for ``sub_id`` with ``status`` (then 201 again)."""
        self.answers[sub_id].append((status, headers or {}))

    def for_browser(self, browser: Browser) -> list[Received]:
        sub_id = browser.endpoint.rsplit("/", 1)[1]
        with self.lock:
            return [r for r in self.received if r.sub_id == sub_id]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} push message(s), got {len(self.received)}; "
                             f"refused: {self.rejected[:3]}")

    # ------------------------------------------------------------------ the service

    def _verify_vapid(self, request: Request) -> dict:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("vapid "):
            raise ValueError(f"no VAPID authorization: {auth!r}")
        params = dict(part.strip().split("=", 1) for part in auth[6:].split(","))
        token, key = params["t"], params["k"]
        if key != self.expected_key:
            raise ValueError("k is not the application's public key")
        header_b64, claims_b64, sig_b64 = token.split(".")
        header = json.loads(unb64url(header_b64))
        if header.get("alg") != "ES256":
            raise ValueError(f"alg {header.get('alg')!r}")
        signature = unb64url(sig_b64)
        if len(signature) != 64:
            raise ValueError("signature is not raw r||s")
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                   int.from_bytes(signature[32:], "big"))
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
        try:
            public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise ValueError("bad JWT signature") from None
        claims = json.loads(unb64url(claims_b64))
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.url))
        if claims.get("aud") != origin:
            raise ValueError(f"aud {claims.get('aud')!r} is not {origin!r}")
        if not time.time() < claims.get("exp", 0) <= time.time() + 24 * 3600:
            raise ValueError("exp missing or more than 24 h away")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            raise ValueError("sub must be a mailto: or https: URL")
        return claims

    @Request.application
    def _app(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if request.method != "POST" or len(parts) != 2 or parts[0] != "push":
            return Response("not found", 404)
        sub_id = parts[1]
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            queued = self.answers[sub_id].popleft() if self.answers[sub_id] else None
        if queued is not None:
            status, headers = queued
            with self.lock:
                self.requests.append((sub_id, status, time.monotonic()))
            return Response("", status, headers=headers)
        browser = self.browsers.get(sub_id)
        try:
            if browser is None:
                raise ValueError("unknown subscription")
            claims = self._verify_vapid(request)
            if request.headers.get("Content-Encoding") != "aes128gcm":
                raise ValueError("Content-Encoding is not aes128gcm")
            plain = http_ece.decrypt(request.get_data(), private_key=browser.private_key,
                                     auth_secret=browser.auth, version="aes128gcm")
            payload = json.loads(plain)
        except Exception as exc:  # noqa: BLE001 - any failed check is a refusal
            with self.lock:
                self.rejected.append(f"{type(exc).__name__}: {exc}")
                self.requests.append((sub_id, 400, time.monotonic()))
            return Response(str(exc), 400)
        with self.lock:
            self.received.append(Received(sub_id, payload, dict(request.headers), claims))
            self.requests.append((sub_id, 201, time.monotonic()))
        return Response("", 201, headers={"Location": f"{self.url}/message/{len(self.received)}"})

"""A real SMTP server on loopback for tests (aiosmtpd), exposed as the ``smtp_server`` fixture.

Use it with ``pytest_plugins = ["tests.smtp"]`` in ``tests/conftest.py`` or import the fixture.
``smtp_server.messages`` holds every accepted message as an :class:`email.message.EmailMessage`;
``smtp_server.config`` is the ``MAIL_*`` config that points an app at it.
"""
from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Handler:
    def __init__(self, server: "SMTPServer"):
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        # A refusal configured for this address (e.g. "550 5.1.1 No such user" or
        # "451 4.3.0 Try later"); only accepted addresses join the envelope.
        answer = self.server.rcpt_answers.get(address.lower())
        if answer is not None:
            with self.server.lock:
                self.server.refused.append((address, answer))
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.server.lock:
            self.server.data_started += 1
            number = self.server.data_started
        if self.server.delay:
            await asyncio.sleep(self.server.delay)
        gate = self.server.gate
        if gate is not None and number > self.server.gate_after:
            # Hold the SMTP transaction open (without blocking the event loop) until the test
            # opens the gate: lets a test act while a worker is "mid-send".
            self.server.holding.set()
            while not gate.is_set():
                await asyncio.sleep(0.01)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.server.lock:
            self.server.messages.append(message)
            self.server.peers.append(tuple(session.peer))
            self.server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SMTPServer:
    """An aiosmtpd server on ``127.0.0.1:port`` that keeps what it receives.

    ``start()``/``stop()`` may be called repeatedly (the port stays the same), so a test can
    take the server down and bring it back. ``delay``: seconds every DATA takes (a slow server
    makes concurrent senders overlap). ``gate``: when set to a :class:`threading.Event`,
    every DATA after the first ``gate_after`` ones waits until the event is set (``holding`` is
    set while one waits).
    ``rcpt_answers``: ``{address (lower case): SMTP reply}`` refuses those recipients with that
    reply (``refused`` lists what was refused); ``data_started`` counts DATA commands begun.
    """

    def __init__(self, port: int | None = None):
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.peers: list[tuple] = []     # (host, port) of the connection of each message
        self.lock = threading.Lock()
        self.gate: threading.Event | None = None
        self.delay = 0.0
        self.gate_after = 0
        self.holding = threading.Event()
        self.rcpt_answers: dict[str, str] = {}
        self.refused: list[tuple[str, str]] = []
        self.data_started = 0
        self._controller: Controller | None = None

    @property
    def config(self) -> dict:
        return {"MAIL_SERVER": self.host, "MAIL_PORT": self.port, "MAIL_USE_TLS": False,
                "MAIL_USERNAME": None, "MAIL_PASSWORD": None, "MAIL_TIMEOUT": 10}

    def start(self) -> "SMTPServer":
        if self._controller is None:
            self._controller = Controller(_Handler(self), hostname=self.host, port=self.port,
                                          ready_timeout=10)
            self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, count: int, timeout: float = 10.0) -> list:
        """Wait until at least ``count`` messages arrived; return them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} message(s), got {len(self.messages)}")


@pytest.fixture
def smtp_server():
    """A running :class:`SMTPServer` on a free loopback port, stopped after the test."""
    server = SMTPServer().start()
    try:
        yield server
    finally:
        server.stop()

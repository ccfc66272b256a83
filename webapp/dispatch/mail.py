"""Sending one e-mail: SMTP when ``MAIL_SERVER`` is set, otherwise an ``.eml`` file.

Config: ``MAIL_SERVER``, ``MAIL_PORT`` (25), ``MAIL_USE_TLS`` (STARTTLS), ``MAIL_USE_SSL``
(implicit TLS, port 465), ``MAIL_USERNAME``/``MAIL_PASSWORD`` (login when both are set),
``MAIL_TIMEOUT`` (seconds, 30), ``MAIL_DEFAULT_SENDER``, ``MAIL_OUTBOX_DIR`` (where ``.eml``
files go without a server; ``instance/outbox/`` by default).
"""
from __future__ import annotations

import email.message
import re
import smtplib
import ssl
import uuid
from pathlib import Path

from webapp.files import atomic_write

from flask import current_app

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _eml_name(msg: email.message.EmailMessage) -> str:
    """File name from the Message-ID's left part (``<outbox-3-ab@host>`` -> ``outbox-3-ab.eml``),
    so a resend of the same outbox row overwrites its file instead of adding a second one."""
    message_id = (msg.get("Message-ID") or "").strip().strip("<>")
    local = _UNSAFE.sub("_", message_id.split("@", 1)[0]).strip("._")
    return f"{local or uuid.uuid4().hex}.eml"


def _write_eml(msg: email.message.EmailMessage, directory: Path) -> Path:
    """Write ``msg`` to ``directory/<id>.eml`` atomically (temporary file, fsync, rename), so a
    reader never sees half a message. Returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / _eml_name(msg)
    atomic_write(target, msg.as_bytes())
    return target


def send_message(msg: email.message.EmailMessage) -> dict:
    """Send ``msg`` (which must carry From/To/Subject) and return when the server accepted it.

    Returns the recipients the server refused while accepting others (``{address: (code,
    message)}``, :meth:`smtplib.SMTP.send_message`), ``{}`` when all were accepted.
    Without ``MAIL_SERVER`` the message is written to ``MAIL_OUTBOX_DIR`` as ``<id>.eml``.
    Raises :class:`OSError` (connection refused, timeout, disk full) or
    :class:`smtplib.SMTPException` (refused by the server) on failure; the caller (the outbox)
    decides whether to retry.
    """
    config = current_app.config
    if "From" not in msg:
        msg["From"] = config["MAIL_DEFAULT_SENDER"]
    server = config.get("MAIL_SERVER")
    if not server:
        _write_eml(msg, Path(config["MAIL_OUTBOX_DIR"]))
        return {}
    port = int(config.get("MAIL_PORT") or 25)
    timeout = float(config.get("MAIL_TIMEOUT", 30))
    if config.get("MAIL_USE_SSL"):
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(server, port, timeout=timeout,
                                              context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(server, port, timeout=timeout)
    with smtp:
        if config.get("MAIL_USE_TLS") and not config.get("MAIL_USE_SSL"):
            smtp.starttls(context=ssl.create_default_context())
        if config.get("MAIL_USERNAME") and config.get("MAIL_PASSWORD"):
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        return smtp.send_message(msg)

"""Sending one e-mail: SMTP when ``MAIL_SERVER`` is set, otherwise an ``.eml`` file.

Config: ``MAIL_SERVER``, ``MAIL_PORT`` (25), ``MAIL_USE_TLS`` (STARTTLS), ``MAIL_USE_SSL``
(implicit TLS, port 465), ``MAIL_USERNAME``/``MAIL_PASSWORD`` (login when both are set),
``MAIL_TIMEOUT`` (seconds, 30), ``MAIL_DEFAULT_SENDER``, ``MAIL_OUTBOX_DIR`` (where ``.eml``
files go without a server; ``instance/outbox/`` by default).
"""
from __future__ import annotations

import copy
import email.charset
import email.message
import re
import smtplib
import ssl
import uuid
from pathlib import Path

from webapp.files import atomic_write

from flask import current_app

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _eml_name(msg: email.message.Message) -> str:
    """File name from the Message-ID's left part (``<outbox-3-ab@host>`` -> ``outbox-3-ab.eml``),
    so a resend of the same outbox row overwrites its file instead of adding a second one."""
    message_id = (msg.get("Message-ID") or "").strip().strip("<>")
    local = _UNSAFE.sub("_", message_id.split("@", 1)[0]).strip("._")
    return f"{local or uuid.uuid4().hex}.eml"


#: UTF-8 written as it is (``8bit``), not base64 or quoted-printable.
_PLAIN_UTF8 = email.charset.Charset("utf-8")
_PLAIN_UTF8.body_encoding = None


def _readable(msg: email.message.Message) -> email.message.Message:
    """A copy of ``msg`` whose text parts are plain UTF-8 (``8bit``) instead of base64, so an
    ``.eml`` file reads in a text editor and ``grep`` finds its links whole (quoted-printable
    would break a link at 76 characters). Only for files: SMTP gets ``msg`` as built, whose
    base64 keeps lines short for every server and is cheap to encode."""
    readable = copy.deepcopy(msg)
    for part in readable.walk():
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        charset = part.get_content_charset() or "utf-8"
        text = part.get_payload(decode=True).decode(charset, "replace")
        del part["Content-Transfer-Encoding"]
        part.set_payload(text, _PLAIN_UTF8)
    return readable


def _write_eml(msg: email.message.Message, directory: Path) -> Path:
    """Write ``msg`` to ``directory/<id>.eml`` atomically (temporary file, fsync, rename), so a
    reader never sees half a message; text parts as plain UTF-8 (:func:`_readable`). Returns
    the path."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / _eml_name(msg)
    atomic_write(target, _readable(msg).as_bytes())
    return target


class Mailer:
    """Sends several messages over one SMTP connection (the outbox worker uses one per batch).

    The connection opens at the first :meth:`send` and stays open until :meth:`close` (or the
    end of a ``with`` block). A connection that failed is dropped and the next send opens a new
    one; a send on a *reused* connection that finds it gone (the server closed an idle
    connection, or capped messages per connection: ``SMTPServerDisconnected``, 421, a reset) is
    tried once more on a fresh connection. That retry can repeat a message the server had
    accepted just before the connection broke: the outbox's delivery is at least once, and the
    repeat carries the same ``Message-ID``. Without ``MAIL_SERVER`` messages are written to
    ``MAIL_OUTBOX_DIR`` as ``<id>.eml`` and no connection is made. Needs an app context.
    """

    def __init__(self):
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> "Mailer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        config = current_app.config
        server = config["MAIL_SERVER"]
        port = int(config.get("MAIL_PORT") or 25)
        timeout = float(config.get("MAIL_TIMEOUT", 30))
        if config.get("MAIL_USE_SSL"):
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(server, port, timeout=timeout,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(server, port, timeout=timeout)
        try:
            if config.get("MAIL_USE_TLS") and not config.get("MAIL_USE_SSL"):
                smtp.starttls(context=ssl.create_default_context())
            if config.get("MAIL_USERNAME") and config.get("MAIL_PASSWORD"):
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, msg: email.message.Message) -> dict:
        """Send ``msg`` (From/To/Subject set; From defaults to ``MAIL_DEFAULT_SENDER``).

        Returns the recipients refused while others were accepted (``{address: (code,
        message)}``), ``{}`` when all were. Raises :class:`OSError` or
        :class:`smtplib.SMTPException` on failure; after a refusal of this message (a 5xx/4xx
        to MAIL, RCPT or DATA) the connection stays usable, after anything else it is dropped.
        """
        config = current_app.config
        if "From" not in msg:
            msg["From"] = config["MAIL_DEFAULT_SENDER"]
        if not config.get("MAIL_SERVER"):
            _write_eml(msg, Path(config["MAIL_OUTBOX_DIR"]))
            return {}
        reused = self._smtp is not None
        try:
            return self._send_once(msg)
        except (OSError, smtplib.SMTPException):
            # A fresh connection that failed, or a refusal of this message on a session that
            # goes on, is the answer. A reused connection that broke may just have gone stale.
            if not reused or self._smtp is not None:
                raise
        return self._send_once(msg)

    def _send_once(self, msg: email.message.Message) -> dict:
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            return self._smtp.send_message(msg)
        except _MESSAGE_REFUSALS:
            if self._smtp.sock is None:  # a 421: smtplib closed the connection itself
                self._smtp = None
            raise  # otherwise smtplib has reset the transaction (RSET) and the session goes on
        except BaseException:
            self._drop()
            raise

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.close()
            except OSError:
                pass

    def close(self) -> None:
        """Say QUIT and close the connection, if one is open (errors are ignored: the
        messages were already accepted or not)."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


#: Refusals of one message, after which smtplib resets the transaction and the session goes on
#: (except after a 421, "service closing", when smtplib has closed the connection).
_MESSAGE_REFUSALS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused,
                     smtplib.SMTPDataError)


def send_message(msg: email.message.Message) -> dict:
    """Send ``msg`` on a connection of its own (see :meth:`Mailer.send` for the return value
    and errors); the outbox worker uses a :class:`Mailer` per batch instead."""
    with Mailer() as mailer:
        return mailer.send(msg)

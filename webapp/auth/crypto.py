"""Staff TOTP secrets encrypted at rest, so a copy of the database (a backup, a dump handed to a
developer) does not hand out working second factors.

Cipher: Fernet from ``cryptography`` (AES-128-CBC with HMAC-SHA256, a random IV and a timestamp
per token; the stored text is URL-safe base64, 140 characters for a 32-character base32 secret).

Keys (config ``TOTP_ENCRYPTION_KEY``): one or more Fernet keys separated by commas (make one with
``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``).
The first encrypts; every one decrypts, so a key is rotated by putting the new one first and
keeping the old one after it (secrets enrolled from then on use the new key). Unset: one key derived from
``SECRET_KEY`` with HKDF-SHA256 (info :data:`HKDF_INFO`), so a laptop needs nothing more; but then
changing ``SECRET_KEY`` makes every stored secret unreadable (staff sign in with a recovery code
and re-enrol after an admin resets their second factor): production should set its own key.
"""
from __future__ import annotations

import base64
import logging
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import String
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

#: HKDF's ``info``: keys derived for this purpose differ from any other use of ``SECRET_KEY``.
HKDF_INFO = b"lckzm:staff-totp-secret:v1"


def derived_key(secret_key: str) -> bytes:
    """The Fernet key (URL-safe base64 of 32 bytes) derived from ``secret_key`` by HKDF-SHA256."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=HKDF_INFO).derive(secret_key.encode("utf-8"))
    return base64.urlsafe_b64encode(raw)


def configured_keys(config) -> tuple[bytes, ...]:
    """The Fernet keys from ``config`` (a mapping): ``TOTP_ENCRYPTION_KEY`` split at commas, or
    the one derived from ``SECRET_KEY``. Raises ``ValueError`` for a malformed key."""
    listed = [k.strip() for k in (config.get("TOTP_ENCRYPTION_KEY") or "").split(",") if k.strip()]
    if not listed:
        return (derived_key(config["SECRET_KEY"]),)
    try:
        keys = tuple(k.encode("ascii") for k in listed)
        for key in keys:
            Fernet(key)
    except (ValueError, TypeError) as exc:  # UnicodeEncodeError is a ValueError too
        raise ValueError("TOTP_ENCRYPTION_KEY must be Fernet keys (32 bytes in URL-safe "
                         "base64) separated by commas") from exc
    return keys


@lru_cache(maxsize=8)
def _cipher(keys: tuple[bytes, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


def cipher(config=None) -> MultiFernet:
    """The cipher for ``config`` (the current app's by default)."""
    return _cipher(configured_keys(config if config is not None else current_app.config))


def encrypt(plain: str, config=None) -> str:
    """``plain`` encrypted with the first configured key, as text."""
    return cipher(config).encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt(token: str, config=None) -> str:
    """The text in ``token``; raises ``cryptography.fernet.InvalidToken`` when no configured
    key opens it (wrong key, or not a token at all)."""
    return cipher(config).decrypt(token.encode("ascii")).decode("utf-8")


class EncryptedText(TypeDecorator):
    """A string column stored encrypted (:func:`encrypt`); Python code sees the plain text.

    A value no configured key opens reads as ``None`` (logged as an error) rather than failing
    the whole request: the account then needs a recovery code, as if it had no TOTP key, and an
    admin can reset its second factor. Only written columns are saved, so reading it as
    ``None`` never overwrites the stored value."""

    impl = String(255)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else encrypt(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        try:
            return decrypt(value)
        except (InvalidToken, UnicodeError):
            log.error("a stored TOTP secret cannot be decrypted: TOTP_ENCRYPTION_KEY (or "
                      "SECRET_KEY) is not the one it was written with")
            return None

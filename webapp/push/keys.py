"""The application's VAPID key pair (RFC 8292): made once, kept in ``instance/vapid_private.pem``.

``VAPID_PRIVATE_KEY`` (a PEM text or a path to a PEM file) overrides the file, e.g. when several
hosts serve the portal and must sign with the same key. The browser is given the public key
(``applicationServerKey``) and refuses pushes signed by any other, so the key must outlive
restarts and be shared by the web processes and the workers.
"""
from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

KEY_FILE = "vapid_private.pem"


def b64url(data: bytes) -> str:
    """Base64url without padding (the form Web Push uses for keys)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def generate_pem() -> bytes:
    """A new P-256 private key as PKCS#8 PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ensure_key_file(instance_path: Path, *, replace: bool = False) -> Path:
    """Create ``instance/vapid_private.pem`` (mode 0600) unless it exists; return its path.

    Safe when several processes start at once: each writes a temporary file and ``link()``s it
    into place; ``link`` fails for all but the first, and the others use the winner's key (like
    ``SECRET_KEY`` in :mod:`webapp.config`). ``replace`` makes a new key (old subscriptions then
    stop working: browsers must subscribe again).
    """
    instance_path.mkdir(parents=True, exist_ok=True)
    path = instance_path / KEY_FILE
    if path.exists() and not replace:
        return path
    tmp = instance_path / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(generate_pem())
        fh.flush()
        os.fsync(fh.fileno())
    try:
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    except FileExistsError:
        pass  # another process won the race: use its key
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_private_pem(setting: str | None, instance_path: Path) -> bytes:
    """The private key PEM: ``setting`` (PEM text or a file path) or the instance file, made
    when missing. Raises ``ValueError`` when the PEM is not a P-256 private key."""
    if setting:
        pem = setting.encode() if "-----BEGIN" in setting else Path(setting).read_bytes()
    else:
        pem = ensure_key_file(instance_path).read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("VAPID key must be a P-256 (secp256r1) private key")
    return pem


def public_key_b64(pem: bytes) -> str:
    """The public key as the browser wants it: base64url of the 65-byte uncompressed point."""
    key = serialization.load_pem_private_key(pem, password=None)
    raw = key.public_key().public_bytes(serialization.Encoding.X962,
                                        serialization.PublicFormat.UncompressedPoint)
    return b64url(raw)

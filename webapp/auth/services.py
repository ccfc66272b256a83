"""Staff account rules: creating users, checking passwords and second factors, the lock.

Numbers (config, defaults): ``STAFF_MAX_FAILED_LOGINS`` (5) failed attempts in a row lock the
account for ``STAFF_LOCK_MINUTES`` (15). TOTP is RFC 6238 (30 s, 6 digits, one step of clock
drift accepted); a used step cannot be used again. Recovery codes: 10, single use.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import io
import secrets
from datetime import timedelta

import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import InvalidToken
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from webapp.audit.services import record
from webapp.auth import crypto
from webapp.auth.models import ROLES, RecoveryCode, StaffUser
from webapp.clock import utcnow
from webapp.extensions import db

_hasher = PasswordHasher()



@functools.cache
def _dummy_hash() -> str:
    """Hash of a random password, verified when the e-mail is unknown, so the answer takes as
    long as for a known account (no user enumeration by timing). Made once, on first use."""
    return _hasher.hash(secrets.token_urlsafe(16))


PASSWORD_MIN_LENGTH = 12
RECOVERY_CODE_COUNT = 10
TOTP_ISSUER = "ŁCKzM Łódź"


class AuthError(ValueError):
    """A refused login or account change; ``message`` is a lazy translated text and
    ``reason`` a short code (``"invalid"``, ``"locked"``, ``"code"``, ``"exists"``, ...)."""

    def __init__(self, reason: str, message):
        super().__init__(reason)
        self.reason = reason
        self.message = message


def normalise_email(address: str) -> str:
    """The address as stored: stripped and lower-cased; raises :class:`AuthError` ("email")
    when it is not an e-mail address."""
    try:
        return validate_email((address or "").strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise AuthError("email", _l("Enter a valid e-mail address.")) from None


def hash_password(password: str) -> str:
    """argon2id hash of ``password``."""
    return _hasher.hash(password)


def check_password_rules(password: str) -> None:
    """Raise :class:`AuthError` ("password") for a password shorter than 12 characters."""
    if len(password or "") < PASSWORD_MIN_LENGTH:
        raise AuthError("password", _l("The password must have at least %(n)d characters.",
                                       n=PASSWORD_MIN_LENGTH))


def find_user(email: str) -> StaffUser | None:
    """The staff user with this e-mail (case-insensitive), or None."""
    return db.session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email.strip().lower()))


def create_user(email: str, password: str, role: str, *, name: str = "", actor=None) -> StaffUser:
    """Create an account (audited as ``user.create``; no commit). Raises :class:`AuthError`
    for a bad e-mail, an existing one, an unknown role or a short password."""
    email = normalise_email(email)
    if role not in ROLES:
        raise AuthError("role", _l("Choose a role from the list."))
    check_password_rules(password)
    if find_user(email) is not None:
        raise AuthError("exists", _l("An account with this e-mail address already exists."))
    user = StaffUser(email=email, name=(name or "").strip()[:120], role=role,
                     password_hash=hash_password(password), session_generation=1,
                     failed_logins=0, active=True, created_at=utcnow())
    db.session.add(user)
    db.session.flush()
    record("user.create", actor=actor, actor_label=getattr(actor, "email", "cli"),
           object_type="staff_user", object_id=user.id, after=user_snapshot(user))
    return user


def user_snapshot(user: StaffUser) -> dict:
    """What the audit trail keeps of an account (never its secrets)."""
    return {"email": user.email, "name": user.name, "role": user.role, "active": user.active,
            "totp_enrolled": user.totp_confirmed_at is not None}


def update_user(user: StaffUser, *, role: str | None = None, active: bool | None = None,
                reset_totp: bool = False, actor=None) -> None:
    """Change the role, deactivate, or reset the second factor (a lost phone: the user enrols
    again at the next login; recovery codes are dropped). Audited as ``user.update``; a
    deactivated or reset user is logged out everywhere. No commit. Raises :class:`AuthError`
    for an unknown role."""
    before = user_snapshot(user)
    if reset_totp:
        user.totp_secret = None
        user.totp_confirmed_at = None
        user.totp_last_step = None
        user.recovery_codes.clear()
        user.session_generation += 1
    if role is not None:
        if role not in ROLES:
            raise AuthError("role", _l("Choose a role from the list."))
        user.role = role
    if active is not None:
        user.active = active
        if not active:
            user.session_generation += 1
    record("user.update", actor=actor, object_type="staff_user", object_id=user.id,
           before=before, after=user_snapshot(user))


def authenticate(email: str, password: str) -> StaffUser:
    """Check the first factor. Returns the user; raises :class:`AuthError` ``"invalid"`` (wrong
    e-mail or password, or inactive account: the same message for all) or ``"locked"``.

    A failure counts towards the lock and is audited (``login.failed``); the caller commits.
    """
    user = find_user(email or "")
    now = utcnow()
    if user is None:
        try:
            _hasher.verify(_dummy_hash(), password or "")
        except VerificationError:
            pass
        record("login.failed", actor_label=(email or "")[:254], object_type="staff_user",
               after={"reason": "unknown"})
        raise AuthError("invalid", _l("Wrong e-mail address or password."))
    if user.locked_until is not None and user.locked_until > now:
        record("login.failed", actor=user, object_type="staff_user", object_id=user.id,
               after={"reason": "locked"})
        raise AuthError("locked", _l("Too many failed attempts: the account is locked for a few "
                                     "minutes. Try again later or ask an administrator."))
    try:
        ok = _hasher.verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or not user.active:
        register_failure(user, "password")
        raise AuthError("invalid", _l("Wrong e-mail address or password."))
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def register_failure(user: StaffUser, reason: str) -> None:
    """Count a failed attempt (password or second factor) and lock the account after
    ``STAFF_MAX_FAILED_LOGINS`` in a row, for ``STAFF_LOCK_MINUTES``. Audited; no commit."""
    user.failed_logins = (user.failed_logins or 0) + 1
    limit = int(current_app.config.get("STAFF_MAX_FAILED_LOGINS", 5))
    after = {"reason": reason, "failed_logins": user.failed_logins}
    if user.failed_logins >= limit:
        user.locked_until = utcnow() + timedelta(minutes=int(current_app.config.get("STAFF_LOCK_MINUTES", 15)))
        user.failed_logins = 0
        after["locked_until"] = user.locked_until.isoformat()
    record("login.failed", actor=user, object_type="staff_user", object_id=user.id, after=after)


def register_success(user: StaffUser, method: str) -> None:
    """Reset the failure count, note the time and audit ``login`` (``method``: "totp",
    "recovery_code", "enrolment"). No commit."""
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = utcnow()
    record("login", actor=user, object_type="staff_user", object_id=user.id, after={"method": method})


# --------------------------------------------------------------------------- TOTP

def new_totp_secret() -> str:
    """A fresh base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(32)


def seal_secret(secret: str) -> str:
    """``secret`` encrypted (:func:`webapp.auth.crypto.encrypt`, the DB column's Fernet keys)
    for the session cookie during enrolment: the cookie is signed, not secret, and a copy of it
    must not hand out the second factor."""
    return crypto.encrypt(secret)


def open_secret(sealed) -> str | None:
    """The secret in ``sealed`` (from :func:`seal_secret`), or None when it is missing, not a
    string, or no configured key opens it (the keys changed: enrolment starts with a new one)."""
    if not isinstance(sealed, str) or not sealed:
        return None
    try:
        return crypto.decrypt(sealed)
    except (InvalidToken, UnicodeError):
        return None


def provisioning_uri(user: StaffUser, secret: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)


def qr_svg_data_uri(text: str) -> str:
    """``text`` as a QR code, an SVG ``data:`` URI made on the server (segno), for an <img>
    (the CSP allows ``img-src data:``; no script, no CDN)."""
    # A whole SVG document: an <img> needs its xmlns, which svg_inline leaves out.
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="svg", scale=5, border=4, dark="#000",
                                     light="#fff", xmldecl=False)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def _totp_step(secret: str, code: str, last_step: int | None) -> int | None:
    """The time step ``code`` is valid for (now, or one step either side), else None; a step
    at or before ``last_step`` is refused (replay)."""
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    if len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    now = utcnow()
    step_now = totp.timecode(now)
    for step in (step_now, step_now - 1, step_now + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            if last_step is not None and step <= last_step:
                return None
            return step
    return None


def confirm_enrolment(user: StaffUser, secret: str, code: str) -> list[str]:
    """Finish TOTP enrolment with the first code from the app: stores the secret, marks it
    confirmed and returns new recovery codes (plain text, shown once). Audited
    (``user.totp_enrolled``); no commit. Raises :class:`AuthError` ("code") for a wrong code."""
    step = _totp_step(secret, code, None)
    if step is None:
        register_failure(user, "totp_enrolment")
        raise AuthError("code", _l("The code is not correct. Check the time on your phone and "
                                   "enter the current code."))
    before = user_snapshot(user)
    user.totp_secret = secret
    user.totp_confirmed_at = utcnow()
    user.totp_last_step = step
    codes = new_recovery_codes(user)
    record("user.totp_enrolled", actor=user, object_type="staff_user", object_id=user.id,
           before=before, after=user_snapshot(user))
    return codes


def verify_second_factor(user: StaffUser, code: str) -> str:
    """Check a TOTP code or, failing that, an unused recovery code (which is then used up).

    Returns the method (``"totp"`` or ``"recovery_code"``). Raises :class:`AuthError`
    ("code", counted towards the lock) or ("locked"). No commit.
    """
    if user.locked_until is not None and user.locked_until > utcnow():
        raise AuthError("locked", _l("Too many failed attempts: the account is locked for a few "
                                     "minutes. Try again later or ask an administrator."))
    step = _totp_step(user.totp_secret or "", code, user.totp_last_step) if user.totp_secret else None
    if step is not None:
        user.totp_last_step = step
        return "totp"
    digest = _code_hash(code)
    for rc in user.recovery_codes:
        if rc.used_at is None and hmac.compare_digest(rc.code_hash, digest):
            rc.used_at = utcnow()
            return "recovery_code"
    register_failure(user, "second_factor")
    raise AuthError("code", _l("The code is not correct. Enter the current code from your "
                               "authenticator app or one of your recovery codes."))


def _normalise_code(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def _code_hash(code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, _normalise_code(code).encode(), hashlib.sha256).hexdigest()


def new_recovery_codes(user: StaffUser) -> list[str]:
    """Replace the user's recovery codes with :data:`RECOVERY_CODE_COUNT` new ones; returns
    them as ``"xxxxx-xxxxx"`` (shown once, stored hashed). No commit."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    user.recovery_codes.clear()
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(alphabet) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        user.recovery_codes.append(RecoveryCode(code_hash=_code_hash(raw)))
    return codes


def log_out_everywhere(user: StaffUser) -> None:
    """End every session of ``user`` (bumps ``session_generation``). Audited; no commit."""
    user.session_generation = (user.session_generation or 1) + 1
    record("user.logout_everywhere", actor=user, object_type="staff_user", object_id=user.id)


def load_session_user(session_id: str) -> StaffUser | None:
    """Flask-Login's loader: ``"<id>:<generation>"`` -> the active user whose generation still
    matches, else None (logged out everywhere, deactivated, or a malformed id)."""
    user_id, _, generation = (session_id or "").partition(":")
    if not (user_id.isdigit() and generation.isdigit()):
        return None
    user = db.session.get(StaffUser, int(user_id))
    if user is None or not user.active or user.session_generation != int(generation):
        return None
    return user

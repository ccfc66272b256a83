"""Staff TOTP secrets are encrypted at rest: the database column never holds the base32 secret,
logins with pyotp's codes still work, a configured key (and a rotated one) is used, a wrong key
leaves the recovery codes working, and the migration encrypts the secrets already stored."""
from __future__ import annotations

import json
import os
import uuid

import pyotp
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from tests.helpers import PASSWORD, login, staff_client

PREVIOUS_HEAD = "b13a0e311a01"  # the revision before the encryption


def _stored_secret(app, email="operator@lodz.example") -> str:
    """The staff_user.totp_secret column as the database holds it (plain SQL, no ORM type)."""
    from webapp.extensions import db
    with app.app_context():
        return db.session.execute(sa.text("SELECT totp_secret FROM staff_user WHERE email = :e"),
                                  {"e": email}).scalar_one()


def test_the_column_holds_a_token_and_login_with_pyotp_still_works(make_app):
    from webapp.auth.crypto import derived_key
    app = make_app()
    client, secret, _ = staff_client(app)
    stored = _stored_secret(app)
    assert secret not in stored and secret.lower() not in stored.lower()
    assert stored.startswith("gAAAAA")  # a Fernet token (version byte 0x80)
    # The default key is derived from SECRET_KEY.
    assert Fernet(derived_key("test-secret-key")).decrypt(stored.encode()).decode() == secret
    fresh = app.test_client()
    assert login(fresh, "operator@lodz.example", secret).status_code == 302
    assert fresh.get("/admin/queue").status_code == 200


def test_a_configured_key_is_used_and_can_be_rotated(make_app):
    from webapp.auth.crypto import derived_key
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app = make_app(TOTP_ENCRYPTION_KEY=old)
    _, secret, _ = staff_client(app)
    stored = _stored_secret(app)
    assert Fernet(old.encode()).decrypt(stored.encode()).decode() == secret
    with pytest.raises(InvalidToken):
        Fernet(derived_key("test-secret-key")).decrypt(stored.encode())
    rotated = make_app(TOTP_ENCRYPTION_KEY=f"{new}, {old}")
    assert login(rotated.test_client(), "operator@lodz.example", secret).status_code == 302


def test_a_wrong_key_refuses_the_code_but_not_a_recovery_code(make_app):
    app = make_app()
    _, secret, codes = staff_client(app)
    other = make_app(TOTP_ENCRYPTION_KEY=Fernet.generate_key().decode())
    assert login(other.test_client(), "operator@lodz.example", secret).status_code == 422
    assert login(other.test_client(), "operator@lodz.example", secret,
                 code=codes[0]).status_code == 302
    assert _stored_secret(app).startswith("gAAAAA"), "reading it as unknown overwrote nothing"


def test_a_malformed_key_stops_the_start(make_app):
    with pytest.raises(ValueError, match="TOTP_ENCRYPTION_KEY"):
        make_app(TOTP_ENCRYPTION_KEY="not a key")


@pytest.fixture
def empty_database(tmp_path):
    """A database of its own (SQLite file, or a fresh schema under TEST_DATABASE_URL):
    ``(url, engine options)``."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'migrate.sqlite'}", {}
        return
    schema = f"m_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield base, {"connect_args": {"options": f"-csearch_path={schema}"}}
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_the_migration_encrypts_stored_secrets_and_downgrade_decrypts(make_app, empty_database):
    from argon2 import PasswordHasher
    from flask_migrate import downgrade, upgrade
    from webapp.clock import UTCDateTime, utcnow
    from webapp.extensions import db
    url, options = empty_database
    app = make_app(SQLALCHEMY_DATABASE_URI=url,
                   SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, **options})
    secret = pyotp.random_base32(32)
    staff = sa.table("staff_user", *(sa.column(c) for c in (
        "email", "name", "role", "password_hash", "totp_secret", "session_generation",
        "failed_logins", "active")), sa.column("created_at", UTCDateTime()),
        sa.column("totp_confirmed_at", UTCDateTime()))
    with app.app_context():
        upgrade(revision=PREVIOUS_HEAD)
        db.session.execute(staff.insert().values(
            email="operator@lodz.example", name="", role="operator",
            password_hash=PasswordHasher().hash(PASSWORD), totp_secret=secret,
            session_generation=1, failed_logins=0, active=True, created_at=utcnow(),
            totp_confirmed_at=utcnow()))
        db.session.commit()
        upgrade()
    stored = _stored_secret(app)
    assert stored != secret and stored.startswith("gAAAAA")
    assert login(app.test_client(), "operator@lodz.example", secret).status_code == 302
    with app.app_context():
        upgrade()  # nothing to do a second time
        downgrade(revision=PREVIOUS_HEAD)
    assert _stored_secret(app) == secret
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_the_session_cookie_never_holds_the_secret_being_enrolled(make_app):
    """During the first login the new key waits in the (signed, readable) session cookie: it is
    there encrypted, the enrol page shows the same key on a reload, and pyotp's code enrols."""
    from tests.factories import create_staff
    from tests.helpers import SECRET_RE, csrf_token, post_password
    app = make_app()
    create_staff(app)
    client = app.test_client()
    serializer = app.session_interface.get_signing_serializer(app)
    cookies = []

    def keep_cookie(response):
        cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
        cookies.append(cookie.value if cookie else "")
        return response

    keep_cookie(post_password(client, "operator@lodz.example"))
    page = keep_cookie(client.get("/admin/login/enrol")).get_data(as_text=True)
    secret = SECRET_RE.search(page).group(1)
    again = keep_cookie(client.get("/admin/login/enrol")).get_data(as_text=True)
    assert SECRET_RE.search(again).group(1) == secret  # a reload keeps the key being scanned
    sealed = serializer.loads(cookies[-1])["staff_pending"]["secret"]
    assert sealed.startswith("gAAAAA")  # a Fernet token
    token = csrf_token(client, "/admin/login/enrol")
    keep_cookie(client.post("/admin/login/enrol", data={"csrf_token": token, "code": "000000"}))
    done = keep_cookie(client.post("/admin/login/enrol", data={
        "csrf_token": token, "code": pyotp.TOTP(secret).now()}))
    assert done.status_code == 200 and "recovery-codes" in done.get_data(as_text=True)
    assert client.get("/admin/queue").status_code == 200
    for raw in cookies:
        decoded = json.dumps(serializer.loads(raw), default=str) if raw else ""
        for text in (raw, decoded):
            assert secret not in text and secret.lower() not in text.lower()

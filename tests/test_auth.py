"""Staff login with a password and a TOTP second factor, recovery codes, lock, sessions."""
from __future__ import annotations

import pyotp

from tests.factories import create_staff, staff_id
from tests.helpers import (PASSWORD, csrf_token, enrol, login, next_code, post_password,
                           staff_client)


def _audit(app, action):
    from sqlalchemy import select
    from webapp.audit.models import AuditEntry
    from webapp.extensions import db
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_first_login_enrols_totp_and_then_the_queue_opens(app):
    client, secret, codes = staff_client(app)
    assert client.get("/admin/queue").status_code == 200
    assert [e.actor_label for e in _audit(app, "login")] == ["operator@lodz.example"]
    assert _audit(app, "user.totp_enrolled")


def test_password_alone_does_not_open_the_panel(app):
    create_staff(app, "a@lodz.example")
    client = app.test_client()
    enrol(client, "a@lodz.example")
    other = app.test_client()
    assert post_password(other, "a@lodz.example").status_code == 302
    response = other.get("/admin/queue")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_later_login_needs_the_current_code_and_refuses_a_wrong_one(app):
    client, secret, _ = staff_client(app)
    fresh = app.test_client()
    wrong = login(fresh, "operator@lodz.example", secret, code="000000")
    assert wrong.status_code == 422
    assert "kod jest niepoprawny" in wrong.get_data(as_text=True).lower()
    token = csrf_token(fresh, "/admin/login/code")
    ok = fresh.post("/admin/login/code", data={"csrf_token": token, "code": next_code(secret)})
    assert ok.status_code == 302
    assert fresh.get("/admin/queue").status_code == 200


def test_a_used_code_cannot_be_replayed(app):
    client, secret, _ = staff_client(app)
    code = next_code(secret)
    assert login(app.test_client(), "operator@lodz.example", secret, code=code).status_code == 302
    assert login(app.test_client(), "operator@lodz.example", secret, code=code).status_code == 422


def test_recovery_code_works_once(app):
    _, secret, codes = staff_client(app)
    assert login(app.test_client(), "operator@lodz.example", secret, code=codes[0]).status_code == 302
    assert login(app.test_client(), "operator@lodz.example", secret, code=codes[0]).status_code == 422
    assert [e.after["method"] for e in _audit(app, "login")][-1] == "recovery_code"


def test_repeated_failures_lock_the_account_even_for_the_right_password(app):
    create_staff(app, "x@lodz.example")
    client = app.test_client()
    for _ in range(5):
        assert post_password(client, "x@lodz.example", "wrong password!!").status_code == 422
    locked = post_password(client, "x@lodz.example", PASSWORD)
    assert locked.status_code == 422
    assert "zablokowane" in locked.get_data(as_text=True)
    reasons = [e.after["reason"] for e in _audit(app, "login.failed")]
    assert reasons.count("password") == 5 and reasons[-1] == "locked"


def test_unknown_address_gets_the_same_answer_and_is_audited(app):
    client = app.test_client()
    response = post_password(client, "nobody@lodz.example", "whatever password")
    assert response.status_code == 422
    assert "Błędny adres e-mail lub hasło" in response.get_data(as_text=True)
    assert _audit(app, "login.failed")[0].actor_label == "nobody@lodz.example"


def test_log_out_everywhere_ends_other_sessions(app):
    first, secret, _ = staff_client(app)
    second = app.test_client()
    assert login(second, "operator@lodz.example", secret).status_code == 302
    assert second.get("/admin/queue").status_code == 200
    token = csrf_token(first, "/admin/account")
    assert first.post("/admin/account/logout-everywhere", data={"csrf_token": token}).status_code == 302
    assert second.get("/admin/queue").status_code == 302
    assert first.get("/admin/queue").status_code == 302


def test_idle_session_ends(make_app):
    app = make_app(STAFF_IDLE_MINUTES=0)
    create_staff(app)
    client = app.test_client()
    enrol(client, "operator@lodz.example")
    with client.session_transaction() as session:
        session["staff_seen"] -= 5
    response = client.get("/admin/queue")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_session_cookie_is_secure_on_https_and_httponly_lax(make_app):
    app = make_app(PUBLIC_BASE_URL="https://zgloszenia.lodz.example")
    create_staff(app)
    client = app.test_client()
    response = post_password(client, "operator@lodz.example")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_cli_creates_the_first_admin(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "--email", "Admin@Lodz.example", "--role",
                                 "admin", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    client = app.test_client()
    secret, _ = enrol(client, "admin@lodz.example")
    assert client.get("/admin/users").status_code == 200
    short = runner.invoke(args=["users", "create", "--email", "b@lodz.example", "--password", "short"])
    assert short.exit_code != 0 and "12" in short.output


def test_admin_creates_an_operator_in_the_panel(app):
    admin, _, _ = staff_client(app, "admin@lodz.example", "admin")
    token = csrf_token(admin, "/admin/users")
    response = admin.post("/admin/users", data={"csrf_token": token, "email": "new@lodz.example",
                                                "name": "Nowa", "role": "operator",
                                                "password": PASSWORD})
    assert response.status_code == 302
    assert "new@lodz.example" in admin.get("/admin/users").get_data(as_text=True)
    created = _audit(app, "user.create")[-1]
    assert created.actor_label == "admin@lodz.example" and created.after["role"] == "operator"
    newcomer = app.test_client()
    enrol(newcomer, "new@lodz.example")
    assert newcomer.get("/admin/users").status_code == 403


def test_admin_resets_a_lost_second_factor(app):
    admin, _, _ = staff_client(app, "admin@lodz.example", "admin")
    operator, secret, _ = staff_client(app, "op@lodz.example", "operator")
    uid = staff_id(app, "op@lodz.example")
    token = csrf_token(admin, "/admin/users")
    response = admin.post(f"/admin/users/{uid}", data={"csrf_token": token, "role": "operator",
                                                       "active": "y", "reset_totp": "y"})
    assert response.status_code == 302
    assert operator.get("/admin/queue").status_code == 302   # logged out everywhere
    fresh = app.test_client()
    new_secret, _ = enrol(fresh, "op@lodz.example")            # enrols again
    assert new_secret != secret
    entry = _audit(app, "user.update")[-1]
    assert entry.before["totp_enrolled"] is True and entry.after["totp_enrolled"] is False


def test_deactivated_account_cannot_log_in(app):
    admin, _, _ = staff_client(app, "admin@lodz.example", "admin")
    operator, secret, _ = staff_client(app, "op@lodz.example", "operator")
    uid = staff_id(app, "op@lodz.example")
    token = csrf_token(admin, "/admin/users")
    admin.post(f"/admin/users/{uid}", data={"csrf_token": token, "role": "operator"})
    assert operator.get("/admin/queue").status_code == 302
    assert post_password(app.test_client(), "op@lodz.example").status_code == 422

"""Staff sign-in: passwords, two-step login, lockout, CSRF, roles and sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pyotp
import pytest

from tests.conftest import make_container
from tests.staff_support import (
    PASSWORD,
    add_account,
    audit_actions,
    csrf_from,
    enrol_and_login,
    login,
    post_form,
)

STAFF_PAGES = ["/staff/contacts", "/staff/contacts?q=maija", "/staff/consents/new",
               "/staff/account", "/staff/admin/accounts", "/staff/admin/notices",
               "/staff/admin/audit", "/staff/contacts/00000000-0000-0000-0000-000000000000",
               "/staff/contacts/00000000-0000-0000-0000-000000000000/export.json"]
ADMIN_PAGES = ["/staff/admin/accounts", "/staff/admin/notices", "/staff/admin/audit"]


def test_logged_out_user_reaches_no_staff_page(client: Any) -> None:
    for path in STAFF_PAGES:
        response = client.get(path)
        assert response.status_code == 302, path
        assert "/staff/login" in response.headers["Location"]


def test_logged_out_post_changes_nothing_even_with_a_valid_token(client: Any,
                                                                 container: Any) -> None:
    page = client.get("/staff/login").get_data(as_text=True)
    response = client.post("/staff/consents/new", data={
        "csrf_token": csrf_from(page), "email": "maija@example.fi", "channels": "email",
        "method": "in_person"})
    assert response.status_code == 302 and "/staff/login" in response.headers["Location"]
    assert "consent.verbal" not in audit_actions(container)


def test_staff_password_is_stored_as_an_argon2_hash(container: Any) -> None:
    from sqlalchemy import select

    from service.domain.models import StaffAccount

    add_account(container, "liisa")
    with container.session_factory() as session:
        stored = session.scalars(select(StaffAccount.password_hash)).one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_staff_without_totp_policy_logs_in_with_password(client: Any, container: Any) -> None:
    add_account(container, "liisa")
    response = login(client, "liisa")
    assert response.status_code == 302 and response.headers["Location"].endswith(
        "/staff/contacts")
    page = client.get("/staff/contacts").get_data(as_text=True)
    assert "liisa" in page
    assert audit_actions(container).count("login") == 1


def test_wrong_password_is_refused_and_logged(client: Any, container: Any) -> None:
    add_account(container, "liisa")
    response = login(client, "liisa", "wrong password!!")
    assert response.status_code == 401
    assert "Kirjautuminen epäonnistui" in response.get_data(as_text=True)
    assert client.get("/staff/contacts").status_code == 302
    assert audit_actions(container).count("login.failed") == 1


def test_ten_wrong_passwords_lock_the_account_for_a_while(client: Any, container: Any,
                                                          clock: Any) -> None:
    add_account(container, "liisa")
    for _ in range(10):
        assert login(client, "liisa", "wrong password!!").status_code == 401
    locked = login(client, "liisa")
    assert locked.status_code == 401
    assert client.get("/staff/contacts").status_code == 302
    clock.advance(minutes=16)
    assert login(client, "liisa").status_code == 302
    assert client.get("/staff/contacts").status_code == 200


def test_form_without_csrf_token_is_refused(client: Any, container: Any) -> None:
    add_account(container, "liisa")
    assert login(client, "liisa").status_code == 302
    response = client.post("/staff/consents/new", data={
        "email": "maija@example.fi", "channels": "email", "method": "in_person"})
    assert response.status_code == 400
    assert "Lomake vanheni" in response.get_data(as_text=True)
    assert "consent.verbal" not in audit_actions(container)


def test_login_form_without_csrf_token_is_refused(client: Any, container: Any) -> None:
    add_account(container, "liisa")
    response = client.post("/staff/login", data={"name": "liisa", "password": PASSWORD})
    assert response.status_code == 400
    assert "login" not in audit_actions(container)


def test_staff_user_cannot_reach_admin_pages(client: Any, container: Any) -> None:
    add_account(container, "liisa")
    login(client, "liisa")
    for path in ADMIN_PAGES:
        response = client.get(path)
        assert response.status_code == 403, path
        assert "Vain pääkäyttäjille" in response.get_data(as_text=True)
    # Even with a valid CSRF token, an admin form posted by a staff account changes nothing.
    for path, data in (("/staff/admin/notices", {"fi": "uusi teksti"}),
                       ("/staff/admin/accounts", {"name": "x", "password": PASSWORD,
                                                  "admin": "yes"}),
                       ("/staff/admin/apikeys", {"name": "x", "role": "staff"})):
        response = post_form(client, path, data, page="/staff/contacts")
        assert response.status_code == 403, path
    assert not {"notice.publish", "staff.create", "apikey.create"} & set(
        audit_actions(container)[1:])


def test_admin_must_enrol_totp_before_reaching_anything(client: Any, container: Any,
                                                        clock: Any) -> None:
    add_account(container, "omistaja", admin=True)
    response = login(client, "omistaja")
    assert response.headers["Location"].endswith("/staff/totp")
    assert client.get("/staff/admin/accounts").status_code == 302
    _, codes = enrol_and_login(client.application.test_client(), clock, "omistaja")
    assert len(codes) == 10
    assert "staff.totp_enrol" in audit_actions(container)


def test_admin_with_totp_needs_a_fresh_code_each_login(app: Any, container: Any,
                                                       clock: Any) -> None:
    add_account(container, "omistaja", admin=True)
    secret, _ = enrol_and_login(app.test_client(), clock, "omistaja")
    clock.advance(seconds=60)
    browser = app.test_client()
    response = login(browser, "omistaja")
    assert response.headers["Location"].endswith("/staff/login/code")
    assert client_get_status(browser, "/staff/admin/accounts") == 302
    wrong = post_form(browser, "/staff/login/code", {"code": "000000"})
    assert wrong.status_code == 401
    good = post_form(browser, "/staff/login/code", {"code": pyotp.TOTP(secret).at(clock.now())})
    assert good.status_code == 302
    assert browser.get("/staff/admin/accounts").status_code == 200
    # The same code cannot be used twice.
    again = app.test_client()
    login(again, "omistaja")
    replay = post_form(again, "/staff/login/code", {"code": pyotp.TOTP(secret).at(clock.now())})
    assert replay.status_code == 401


def test_recovery_code_works_once(app: Any, container: Any, clock: Any) -> None:
    add_account(container, "omistaja", admin=True)
    _, codes = enrol_and_login(app.test_client(), clock, "omistaja")
    first = app.test_client()
    login(first, "omistaja")
    assert post_form(first, "/staff/login/code", {"code": codes[0]}).status_code == 302
    second = app.test_client()
    login(second, "omistaja")
    assert post_form(second, "/staff/login/code", {"code": codes[0]}).status_code == 401


def client_get_status(client: Any, path: str) -> int:
    return int(client.get(path).status_code)


def test_session_expires_after_idle_time(client: Any, container: Any, clock: Any) -> None:
    add_account(container, "liisa")
    login(client, "liisa")
    assert client.get("/staff/contacts").status_code == 200
    clock.advance(minutes=31)
    assert client.get("/staff/contacts").status_code == 302


def test_session_cookie_is_httponly_samesite_and_secure_over_https(client: Any,
                                                                   container: Any) -> None:
    add_account(container, "liisa")
    response = login(client, "liisa")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    expires = parsedate_to_datetime(cookie.split("Expires=")[1].split(";")[0])
    assert expires - datetime.now(UTC) < timedelta(hours=12, minutes=1)


def test_session_cookie_is_not_secure_over_plain_http(settings: Any, clock: Any) -> None:
    from service.web import create_app

    container = make_container(settings, clock, public_url="http://127.0.0.1:8000")
    try:
        client = create_app(container=container).test_client()
        add_account(container, "liisa")
        cookie = login(client, "liisa").headers["Set-Cookie"]
        assert "Secure" not in cookie and "HttpOnly" in cookie
    finally:
        container.close()


def test_staff_pages_forbid_framing_and_set_a_strict_csp(client: Any) -> None:
    response = client.get("/staff/login")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_public_opt_in_still_works_without_csrf_token(client: Any) -> None:
    response = client.post("/api/v1/subscribe", json={"email": "maija@example.fi",
                                                      "consent": True})
    assert response.status_code == 202


def test_staff_pages_speak_english_on_request(client: Any) -> None:
    assert "Log in" in client.get("/staff/login?lang=en").get_data(as_text=True)
    assert "Kirjaudu sisään" in client.get("/staff/login?lang=fi").get_data(as_text=True)


def test_logout_ends_the_session(client: Any, container: Any) -> None:
    add_account(container, "liisa")
    login(client, "liisa")
    assert post_form(client, "/staff/logout", {}, page="/staff/contacts").status_code == 302
    assert client.get("/staff/contacts").status_code == 302
    assert audit_actions(container).count("logout") == 1


@pytest.mark.parametrize("policy", ["all"])
def test_require_totp_all_makes_staff_enrol_too(settings: Any, clock: Any, policy: str) -> None:
    from service.web import create_app

    container = make_container(settings, clock, require_totp=policy)
    try:
        client = create_app(container=container).test_client()
        add_account(container, "liisa")
        assert login(client, "liisa").headers["Location"].endswith("/staff/totp")
    finally:
        container.close()


def test_many_login_attempts_from_one_address_are_throttled(client: Any) -> None:
    token = csrf_from(client.get("/staff/login").get_data(as_text=True))
    codes = [client.post("/staff/login", data={"name": f"guess{i}", "password": "x",
                                               "csrf_token": token}).status_code
             for i in range(31)]
    assert codes[:30] == [401] * 30 and codes[30] == 429


def test_staff_changes_their_own_password_knowing_the_current_one(app: Any, client: Any,
                                                                  container: Any) -> None:
    add_account(container, "liisa")
    login(client, "liisa")
    wrong = post_form(client, "/staff/account/password",
                      {"current": "not it at all!", "new": "a brand new secret",
                       "again": "a brand new secret"}, page="/staff/account")
    assert wrong.status_code == 401
    differ = post_form(client, "/staff/account/password",
                       {"current": PASSWORD, "new": "a brand new secret", "again": "other"},
                       page="/staff/account")
    assert differ.status_code == 422
    done = post_form(client, "/staff/account/password",
                     {"current": PASSWORD, "new": "a brand new secret",
                      "again": "a brand new secret"}, page="/staff/account")
    assert done.status_code == 302
    assert login(app.test_client(), "liisa").status_code == 401
    assert login(app.test_client(), "liisa", "a brand new secret").status_code == 302
    assert audit_actions(container).count("staff.password") == 1

"""Staff sessions end at once, everywhere: logout, password change, TOTP reset, disabling.

A session lives in a signed cookie, which the service cannot delete from a browser (or from
whoever copied it); the account's session epoch decides whether it still counts.
"""

from __future__ import annotations

from typing import Any

from service.domain import staff
from tests.staff_support import CLI, PASSWORD, add_account, enrol_and_login, login, post_form

SIGNED_IN_PAGE = "/staff/contacts"


def copy_of_session(app: Any, client: Any) -> Any:
    """Return a new client holding a copy of client's session cookie (a stolen cookie)."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    return thief


def test_logout_ends_every_session_of_the_account_a_copied_cookie_included(
    app: Any, container: Any
) -> None:
    add_account(container, "liisa")
    desk, phone = app.test_client(), app.test_client()
    login(desk, "liisa")
    login(phone, "liisa")
    copied = copy_of_session(app, desk)
    assert copied.get(SIGNED_IN_PAGE).status_code == 200
    assert post_form(desk, "/staff/logout", {}, page=SIGNED_IN_PAGE).status_code == 302
    for client in (desk, copied, phone):
        answer = client.get(SIGNED_IN_PAGE)
        assert answer.status_code == 302 and "/staff/login" in answer.headers["Location"]


def test_password_change_ends_every_other_session_and_keeps_the_one_that_changed_it(
    app: Any, container: Any
) -> None:
    add_account(container, "liisa")
    desk = app.test_client()
    login(desk, "liisa")
    copied = copy_of_session(app, desk)
    changed = post_form(desk, "/staff/account/password",
                        {"current": PASSWORD, "new": "a brand new secret",
                         "again": "a brand new secret"}, page="/staff/account")
    assert changed.status_code == 302
    assert desk.get(SIGNED_IN_PAGE).status_code == 200
    assert copied.get(SIGNED_IN_PAGE).status_code == 302


def test_totp_reset_ends_every_session_of_the_account(app: Any, container: Any,
                                                      clock: Any) -> None:
    owner = add_account(container, "omistaja", admin=True)
    client = app.test_client()
    enrol_and_login(client, clock, "omistaja")
    assert client.get(SIGNED_IN_PAGE).status_code == 200
    # What `consent staff reset-totp` and the accounts page do when a phone is lost.
    staff.reset_totp(container.uow(), container.deps, owner.id, actor=CLI, ip=None)
    assert client.get(SIGNED_IN_PAGE).status_code == 302


def test_disabling_an_account_ends_its_sessions_for_good_even_once_it_is_enabled_again(
    app: Any, container: Any
) -> None:
    account = add_account(container, "liisa")
    desk = app.test_client()
    login(desk, "liisa")
    copied = copy_of_session(app, desk)
    staff.set_disabled(container.uow(), container.deps, account.id, True, actor=CLI, ip=None)
    staff.set_disabled(container.uow(), container.deps, account.id, False, actor=CLI, ip=None)
    assert desk.get(SIGNED_IN_PAGE).status_code == 302
    assert copied.get(SIGNED_IN_PAGE).status_code == 302
    assert login(app.test_client(), "liisa").status_code == 302, "a new login works"

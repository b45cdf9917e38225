"""Admin pages: accounts, consent wording versions, and the audit log."""

from __future__ import annotations

from typing import Any

import pyotp
from sqlalchemy import select

from service.domain.models import Notice
from tests.staff_support import add_account, audit_actions, enrol_and_login, login, post_form


def admin_client(app: Any, container: Any, clock: Any) -> Any:
    add_account(container, "omistaja", admin=True)
    client = app.test_client()
    enrol_and_login(client, clock, "omistaja")
    return client


def test_admin_creates_a_staff_account_that_can_log_in(app: Any, container: Any,
                                                       clock: Any) -> None:
    client = admin_client(app, container, clock)
    before = audit_actions(container)
    response = post_form(client, "/staff/admin/accounts",
                         {"name": "vastaanotto", "password": "a long enough secret"})
    assert response.status_code == 302
    assert audit_actions(container)[len(before):] == ["staff.create"]
    assert "vastaanotto" in client.get("/staff/admin/accounts").get_data(as_text=True)
    assert login(app.test_client(), "vastaanotto", "a long enough secret").status_code == 302


def test_admin_refuses_a_short_password(app: Any, container: Any, clock: Any) -> None:
    client = admin_client(app, container, clock)
    response = post_form(client, "/staff/admin/accounts", {"name": "x", "password": "short"})
    assert response.status_code == 422 and "vähintään 12 merkkiä" in response.get_data(as_text=True)


def test_disabled_account_cannot_log_in_and_loses_its_session(app: Any, container: Any,
                                                              clock: Any) -> None:
    client = admin_client(app, container, clock)
    other = add_account(container, "liisa")
    liisa = app.test_client()
    login(liisa, "liisa")
    assert liisa.get("/staff/contacts").status_code == 200
    post_form(client, f"/staff/admin/accounts/{other.id}/disable", {},
              page="/staff/admin/accounts")
    assert liisa.get("/staff/contacts").status_code == 302
    assert login(app.test_client(), "liisa").status_code == 401


def test_publishing_wording_adds_a_version_and_never_edits_the_old(app: Any, container: Any,
                                                                   clock: Any) -> None:
    client = admin_client(app, container, clock)
    with container.session_factory() as session:
        old = {(n.language, n.text) for n in session.scalars(select(Notice))}
    response = post_form(client, "/staff/admin/notices",
                         {"fi": "Uusi lupateksti.", "sv": "", "en": "New wording."})
    assert response.status_code == 302
    with container.session_factory() as session:
        rows = list(session.scalars(select(Notice)))
    assert {(n.language, n.text) for n in rows if n.version == 1} == old
    assert {(n.language, n.text) for n in rows if n.version == 2} == {
        ("fi", "Uusi lupateksti."), ("en", "New wording.")}
    page = client.get("/staff/consents/new").get_data(as_text=True)
    assert "Uusi lupateksti." in page
    assert audit_actions(container).count("notice.publish") == 1


def test_publishing_wording_needs_finnish(app: Any, container: Any, clock: Any) -> None:
    client = admin_client(app, container, clock)
    response = post_form(client, "/staff/admin/notices", {"fi": "", "en": "Only English"})
    assert response.status_code == 422


def test_audit_log_lists_logins_and_filters_by_action(app: Any, container: Any,
                                                      clock: Any) -> None:
    client = admin_client(app, container, clock)
    login(app.test_client(), "omistaja", "wrong password!!")
    page = client.get("/staff/admin/audit").get_data(as_text=True)
    # Actions in words: "login.failed" and "staff.totp_enrol" as a receptionist reads them.
    failed, enrolled = "epäonnistunut kirjautuminen", "kaksivaiheinen tunnistus otettu käyttöön"
    assert failed in page and enrolled in page
    filtered = client.get("/staff/admin/audit?action=login").get_data(as_text=True)
    assert failed in filtered and enrolled not in filtered


def test_admin_resets_a_lost_totp_and_the_account_enrols_again(app: Any, container: Any,
                                                               clock: Any) -> None:
    client = admin_client(app, container, clock)
    add_account(container, "toinen", admin=True)
    secret, _ = enrol_and_login(app.test_client(), clock, "toinen")
    with container.session_factory() as session:
        from service.domain.models import StaffAccount

        target = session.scalars(select(StaffAccount).where(StaffAccount.name == "toinen")).one()
    post_form(client, f"/staff/admin/accounts/{target.id}/reset-totp", {},
              page="/staff/admin/accounts")
    fresh = app.test_client()
    assert login(fresh, "toinen").headers["Location"].endswith("/staff/totp")
    assert pyotp.TOTP(secret).now()  # the old secret no longer matters


def test_admin_issues_a_key_shown_once_and_revokes_it(app: Any, container: Any,
                                                      clock: Any) -> None:
    import re

    client = admin_client(app, container, clock)
    before = audit_actions(container)
    page = post_form(client, "/staff/admin/apikeys", {"name": "kassajärjestelmä",
                                                      "role": "staff"})
    found = re.search(r'id="new-key">(crk_[^<]+)<', page.get_data(as_text=True))
    assert found
    secret = found.group(1)
    assert audit_actions(container)[len(before):] == ["apikey.create"]
    listing = client.get("/staff/admin/apikeys").get_data(as_text=True)
    assert "kassajärjestelmä" in listing and secret not in listing
    headers = {"Authorization": f"Bearer {secret}"}
    assert app.test_client().get("/api/v1/contacts?email=x@example.fi",
                                 headers=headers).status_code == 404
    with container.session_factory() as session:
        from service.domain.models import ApiKey, AuditEntry

        key_id = session.scalars(select(ApiKey.id)).one()
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "apikey.create")
                                ).one()
    assert entry.actor_type == "staff" and (entry.actor_id or "").endswith(":omistaja")
    post_form(client, f"/staff/admin/apikeys/{key_id}/revoke", {}, page="/staff/admin/apikeys")
    assert app.test_client().get("/api/v1/contacts?email=x@example.fi",
                                 headers=headers).status_code == 403


def test_settings_page_shows_configuration_without_secrets(app: Any, container: Any,
                                                           clock: Any) -> None:
    client = admin_client(app, container, clock)
    page = client.get("/staff/admin/settings").get_data(as_text=True)
    assert "Kiropraktikko Testi" in page and "CONSENT_REQUIRE_TOTP" in page
    assert "test-key-0123456789abcdef" not in page

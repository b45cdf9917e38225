"""Admin pages: accounts, consent wording versions, API keys and the audit log; a destructive
action asks first on a page naming its target, and says what it did."""

from __future__ import annotations

import re
from typing import Any

import pyotp
from sqlalchemy import select

from service.domain.models import Notice
from tests.staff_support import CLI, add_account, audit_actions, enrol_and_login, login, post_form


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
    post_form(client, f"/staff/admin/accounts/{other.id}/disable", {"confirm": "yes"})
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
    # The filter offers every action in words; the entries follow the table's head.
    entries = filtered.split("<tbody>")[1]
    assert failed in entries and enrolled not in entries
    assert '<option value="login" selected>kirjautui sisään</option>' in filtered


def test_admin_resets_a_lost_totp_and_the_account_enrols_again(app: Any, container: Any,
                                                               clock: Any) -> None:
    client = admin_client(app, container, clock)
    add_account(container, "toinen", admin=True)
    secret, _ = enrol_and_login(app.test_client(), clock, "toinen")
    with container.session_factory() as session:
        from service.domain.models import StaffAccount

        target = session.scalars(select(StaffAccount).where(StaffAccount.name == "toinen")).one()
    post_form(client, f"/staff/admin/accounts/{target.id}/reset-totp", {"confirm": "yes"})
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
    post_form(client, f"/staff/admin/apikeys/{key_id}/revoke", {"confirm": "yes"})
    assert app.test_client().get("/api/v1/contacts?email=x@example.fi",
                                 headers=headers).status_code == 403


def test_settings_page_shows_configuration_without_secrets(app: Any, container: Any,
                                                           clock: Any) -> None:
    client = admin_client(app, container, clock)
    page = client.get("/staff/admin/settings").get_data(as_text=True)
    assert "Kiropraktikko Testi" in page and "CONSENT_REQUIRE_TOTP" in page
    assert "test-key-0123456789abcdef" not in page


def test_disabling_an_account_asks_first_naming_it_and_changes_nothing_until_confirmed(
    app: Any, container: Any, clock: Any
) -> None:
    client = admin_client(app, container, clock)
    other = add_account(container, "liisa")
    path = f"/staff/admin/accounts/{other.id}/disable"
    # The list's button only opens the question (a GET); nothing there acts on one click.
    assert f'<form method="get" action="{path}"' in client.get("/staff/admin/accounts").get_data(
        as_text=True)
    asked = client.get(path).get_data(as_text=True)
    assert "Poistetaanko käyttäjä ”liisa” käytöstä?" in asked
    assert "ei voi enää kirjautua" in asked and 'href="/staff/admin/accounts"' in asked
    refused = post_form(client, path, {})
    assert refused.status_code == 422 and "Mitään ei ole vielä tehty" in refused.get_data(
        as_text=True)
    assert "staff.disable" not in audit_actions(container)
    assert login(app.test_client(), "liisa").status_code == 302
    done = post_form(client, path, {"confirm": "yes"})
    assert done.status_code == 302 and audit_actions(container)[-1] == "staff.disable"
    listing = client.get("/staff/admin/accounts").get_data(as_text=True)
    assert "Käyttäjä ”liisa” on poistettu käytöstä" in listing


def test_resetting_ones_own_two_step_login_asks_then_signs_out_saying_why(
    app: Any, container: Any, clock: Any
) -> None:
    client = admin_client(app, container, clock)
    with container.session_factory() as session:
        from service.domain.models import StaffAccount

        own = session.scalars(select(StaffAccount.id)
                              .where(StaffAccount.name == "omistaja")).one()
    path = f"/staff/admin/accounts/{own}/reset-totp"
    asked = client.get(path).get_data(as_text=True)
    assert "Nollataanko oma kaksivaiheinen tunnistuksesi?" in asked
    assert "Sinut kirjataan heti ulos" in asked
    assert client.get("/staff/contacts").status_code == 200, "asking signed no one out"
    done = post_form(client, path, {"confirm": "yes"})
    assert done.headers["Location"].endswith("/staff/login")
    page = client.get("/staff/login").get_data(as_text=True)
    assert "Kaksivaiheinen tunnistuksesi on nollattu, ja sinut on kirjattu ulos." in page
    assert client.get("/staff/contacts").status_code == 302


def test_revoking_a_key_names_it_and_it_works_until_confirmed(app: Any, container: Any,
                                                                clock: Any) -> None:
    import re

    client = admin_client(app, container, clock)
    page = post_form(client, "/staff/admin/apikeys", {"name": "kassa", "role": "staff"})
    found = re.search(r'id="new-key">(crk_[^<]+)<', page.get_data(as_text=True))
    assert found
    headers = {"Authorization": f"Bearer {found.group(1)}"}
    with container.session_factory() as session:
        from service.domain.models import ApiKey

        key_id = session.scalars(select(ApiKey.id)).one()
    path = f"/staff/admin/apikeys/{key_id}/revoke"
    asked = client.get(path).get_data(as_text=True)
    assert "Mitätöidäänkö API-avain ”kassa”?" in asked and found.group(1)[:8] in asked
    assert post_form(client, path, {}).status_code == 422
    assert app.test_client().get("/api/v1/contacts?email=x@example.fi",
                                 headers=headers).status_code == 404, "still works"
    post_form(client, path, {"confirm": "yes"})
    assert "API-avain ”kassa” on mitätöity" in client.get("/staff/admin/apikeys").get_data(
        as_text=True)
    assert client.get(path).status_code == 404, "nothing left to revoke"


def test_audit_entries_read_as_words_with_labelled_details_not_json(
    app: Any, container: Any, clock: Any
) -> None:
    client = admin_client(app, container, clock)
    login(app.test_client(), "omistaja", "wrong password!!")
    page = client.get("/staff/admin/audit").get_data(as_text=True)
    assert "<dt>Syy</dt><dd>väärä salasana</dd>" in page
    assert "<dt>Tunnistautumistapa</dt>" in page and '{"' not in page
    assert "(UTC+2)" in page


def test_audit_log_filters_by_who_and_by_the_practices_day(app: Any, container: Any,
                                                          clock: Any) -> None:
    add_account(container, "liisa")  # on 20.11.2026, 11.00 in Helsinki (the fake clock)
    clock.advance(days=1)
    login(app.test_client(), "liisa")
    client = admin_client(app, container, clock)
    page = client.get("/staff/admin/audit").get_data(as_text=True)
    assert '>henkilökunta (liisa)</option>' in page
    with container.session_factory() as session:
        from service.domain.models import StaffAccount

        liisa = session.scalars(select(StaffAccount.id)
                                .where(StaffAccount.name == "liisa")).one()
    only = client.get(f"/staff/admin/audit?who=staff:{liisa}:liisa").get_data(as_text=True)
    entries = only.split("<tbody>")[1]
    assert "kirjautui sisään" in entries and "omistaja" not in entries
    first_day = client.get("/staff/admin/audit?from=2026-11-20&to=2026-11-20").get_data(
        as_text=True).split("<tbody>")[1]
    assert "käyttäjä luotu" in first_day and "kirjautui sisään" not in first_day
    assert "Näillä ehdoilla ei löydy" in client.get(
        "/staff/admin/audit?from=2026-11-25").get_data(as_text=True)


def test_audit_log_pages_older_and_newer_keeping_the_filter(app: Any, container: Any,
                                                            clock: Any) -> None:
    from service.domain import audit

    client = admin_client(app, container, clock)
    with container.uow() as uow:
        for _ in range(audit.PAGE + 5):
            audit.append(uow.session, CLI, "retention.run",
                         detail={"pending_removed": 0}, now=clock.now())
        uow.commit()
    page = client.get("/staff/admin/audit?action=retention.run").get_data(as_text=True)
    assert "Uudemmat" not in page and "Vanhemmat" in page
    older = re.search(r'href="(/staff/admin/audit\?[^"]*before=\d+[^"]*)"', page)
    assert older and "action=retention.run" in older.group(1)
    second = client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert second.count("<dt>Poistettuja vahvistamattomia</dt>") == 5
    assert "Uudemmat" in second and "Vanhemmat" not in second

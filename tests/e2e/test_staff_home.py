"""The staff home page at a glance: the register per channel, people waiting to confirm, flagged
records, the register copy's state and last update in local time, mail waiting or parked, and
what the practice has still to set."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from service.domain.models import Contact, OutboxItem, OutboxStatus
from service.web import create_app
from tests.conftest import make_container
from tests.register_support import subscribe
from tests.staff_support import add_account, enrol_and_login, login


def home_of(client: Any) -> str:
    response = client.get("/staff/contacts")
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def test_home_page_shows_the_register_at_a_glance_in_finnish_and_local_time(
    client: Any, container: Any
) -> None:
    subscribe(container, "a@example.fi", channels=("email", "sms"), phone="040 111 2222")
    flagged = subscribe(container, "b@example.fi", name="Pekka Virtanen")
    # A person asks on the public form: waiting for their confirmation, the mail on its way.
    assert client.post("/api/v1/subscribe",
                       json={"email": "c@example.fi", "consent": True}).status_code in (200, 202)
    container.sync_register()  # the register copy is brought up to date at 9.00 UTC
    with container.uow() as uow:
        uow.session.execute(update(Contact).where(Contact.public_id == flagged)
                            .values(flagged_reason="disputed_receipt"))
        uow.commit()
    add_account(container, "liisa")
    login(client, "liisa")

    page = home_of(client)

    assert "Tilanne nyt" in page
    assert '<dd id="on-register">Sähköposti: 2<br>Tekstiviesti: 1</dd>' in page
    assert '<dd id="awaiting">Sähköposti: 1<br>Tekstiviesti: 0</dd>' in page
    assert '<dd id="flagged-count">1 · <a href="#flagged">Katso lista</a></dd>' in page
    assert "Rekisterin kopio (paikallinen tiedosto)" in page
    assert "Viimeksi päivitetty 20.11.2026 11.00 (UTC+2)." in page
    assert "Lähtemässä: 1" in page and "Lähettämättömiä" not in page  # the confirmation


def test_parked_mail_on_the_home_page_links_admins_to_the_reasons(
    client: Any, container: Any, clock: Any
) -> None:
    client.post("/api/v1/subscribe", json={"email": "c@example.fi", "consent": True})
    with container.uow() as uow:
        uow.session.execute(update(OutboxItem).where(OutboxItem.kind == "mail")
                            .values(status=OutboxStatus.DEAD.value))
        uow.commit()
    add_account(container, "liisa")
    login(client, "liisa")
    assert "Lähettämättömiä viestejä: 1." in home_of(client)
    assert "Pyydä ylläpitäjää katsomaan ne." in home_of(client)

    desk = client.application.test_client()
    add_account(container, "omistaja", admin=True)
    enrol_and_login(desk, clock, "omistaja")
    assert 'href="/staff/admin/mail">Katso syyt</a>' in home_of(desk)


def test_home_page_says_which_practice_settings_are_still_defaults(
    client: Any, container: Any
) -> None:
    add_account(container, "liisa")
    login(client, "liisa")
    page = home_of(client)
    # The test practice has its name; its sender and privacy notice are still the defaults.
    assert "Palvelun asetukset ovat vielä kesken" in page
    assert "README, kohta Configuration" in page
    assert ("<code>CONSENT_MAIL_FROM</code>: osoite, josta sähköpostit lähetetään "
            "(nyt: noreply@localhost)") in page
    assert "<code>CONSENT_PRIVACY_URL</code>: tietosuojaselosteen osoite" in page
    assert "CONSENT_ORGANIZATION" not in page


def test_a_practice_with_its_settings_made_sees_no_settings_notice(
    settings: Any, clock: Any
) -> None:
    container = make_container(settings, clock, mail_from="uutiskirje@klinikka.fi",
                               privacy_url="https://klinikka.fi/tietosuoja")
    try:
        app = create_app(container=container)
        app.config["TESTING"] = True
        client = app.test_client()
        add_account(container, "liisa")
        login(client, "liisa")
        page = home_of(client)
        assert "Tilanne nyt" in page and "setup-notice" not in page
    finally:
        container.close()


def test_a_search_answer_shows_its_results_instead_of_the_overview(
    client: Any, container: Any
) -> None:
    subscribe(container, "a@example.fi", name="Aino Aaltonen")
    add_account(container, "liisa")
    login(client, "liisa")
    page = client.get("/staff/contacts?q=aino").get_data(as_text=True)
    assert "Aino Aaltonen" in page and "Tilanne nyt" not in page

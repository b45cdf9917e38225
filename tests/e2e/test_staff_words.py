"""Staff pages say what a receptionist reads: her language, the practice's local time, words
instead of codes, errors in the page's language, and sign-in forms that keep what was typed."""

from __future__ import annotations

from typing import Any

from tests.staff_support import add_account, enrol_and_login, login, post_form

VERBAL = {"name": "Maija Meikäläinen", "email": "maija@example.fi", "phone": "040 123 4567",
          "language": "sv", "channels": ["email"], "method": "phone", "notice": "1"}


def signed_in(client: Any, container: Any, name: str = "liisa") -> None:
    add_account(container, name)
    assert login(client, name).status_code == 302


def test_staff_pages_are_in_finnish_swedish_and_english(client: Any) -> None:
    finnish = client.get("/staff/login").get_data(as_text=True)
    assert '<html lang="fi">' in finnish and "Kirjaudu sisään" in finnish
    swedish = client.get("/staff/login?lang=sv").get_data(as_text=True)
    assert '<html lang="sv">' in swedish and "Logga in" in swedish
    assert 'href="?lang=fi"' in swedish and 'href="?lang=en"' in swedish
    # The choice holds for the next page without ?lang=.
    assert "Användarnamn" in client.get("/staff/login").get_data(as_text=True)
    assert "User name" in client.get("/staff/login?lang=en").get_data(as_text=True)


def test_the_user_name_stays_typed_after_a_wrong_password(client: Any, container: Any) -> None:
    add_account(container, "liisa")
    failed = login(client, "liisa", "not the password!")
    page = failed.get_data(as_text=True)
    assert failed.status_code == 401 and 'value="liisa"' in page


def test_the_second_step_field_takes_letters_of_a_recovery_code(
    app: Any, container: Any, clock: Any
) -> None:
    add_account(container, "omistaja", admin=True)  # an admin must use two-step login
    enrol_and_login(app.test_client(), clock, "omistaja")
    client = app.test_client()
    assert login(client, "omistaja").headers["Location"].endswith("/staff/login/code")
    page = client.get("/staff/login/code").get_data(as_text=True)
    assert 'inputmode="text"' in page and 'inputmode="numeric"' not in page


def test_a_wrong_enrolment_code_is_told_in_finnish(client: Any, container: Any) -> None:
    add_account(container, "omistaja", admin=True)
    assert login(client, "omistaja").headers["Location"].endswith("/staff/totp")
    client.get("/staff/totp")
    refused = post_form(client, "/staff/totp", {"code": "000000"}, page="/staff/totp")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "tarkista puhelimen kello" in page
    assert "does not match" not in page


def test_a_verbal_consent_without_address_or_phone_is_refused_in_finnish(
    client: Any, container: Any
) -> None:
    signed_in(client, container)
    refused = post_form(client, "/staff/consents/new", {**VERBAL, "email": "", "phone": ""})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "anna sähköpostiosoite, puhelinnumero tai molemmat" in page
    assert "give an email address" not in page


def test_the_contact_page_reads_in_words_and_helsinki_time(client: Any, container: Any) -> None:
    signed_in(client, container)
    recorded = post_form(client, "/staff/consents/new", VERBAL)
    page = client.get(recorded.headers["Location"]).get_data(as_text=True)
    # The test clock's 09:00 UTC on 20 November is 11.00 in Helsinki.
    assert "20.11.2026 11.00 (UTC+2)" in page and " UTC</" not in page
    assert "antoi suostumuksen" in page and "suullisesti puhelimessa" in page
    assert "henkilökunta (liisa)" in page
    assert "<dd>ruotsi</dd>" in page  # the person's language by its name
    assert "verbal_phone" not in page and ">granted<" not in page


def test_the_contact_page_in_swedish_and_english(client: Any, container: Any) -> None:
    signed_in(client, container)
    recorded = post_form(client, "/staff/consents/new", VERBAL)
    swedish = client.get(recorded.headers["Location"] + "?lang=sv").get_data(as_text=True)
    assert "gav samtycke" in swedish and "muntligt per telefon" in swedish
    assert "20.11.2026 11.00 (UTC+2)" in swedish and "<dd>svenska</dd>" in swedish
    english = client.get(recorded.headers["Location"] + "?lang=en").get_data(as_text=True)
    assert "gave consent" in english and "20/11/2026, 11:00 (UTC+2)" in english

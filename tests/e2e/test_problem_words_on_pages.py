"""What went wrong is said in the page's language on every page a person can meet it, never in
the English that programs get: one test per page kind.

Which problems have words at all is proven from the source in tests/unit/test_problem_words.py.
"""

from __future__ import annotations

from typing import Any

from tests.staff_support import add_account, enrol_and_login, login, post_form

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
VERBAL = {"name": "Maija Meikäläinen", "email": "maija@example.fi", "phone": "",
          "language": "fi", "channels": ["email"], "method": "in_person", "notice": "1"}


def admin_client(app: Any, container: Any, clock: Any) -> Any:
    add_account(container, "omistaja", admin=True)
    client = app.test_client()
    enrol_and_login(client, clock, "omistaja")
    return client


def staff_client(client: Any, container: Any) -> Any:
    add_account(container, "liisa")
    assert login(client, "liisa").status_code == 302
    return client


def test_a_number_as_an_api_key_name_is_refused_in_finnish(
    app: Any, container: Any, clock: Any
) -> None:
    client = admin_client(app, container, clock)
    refused = post_form(client, "/staff/admin/apikeys", {"name": "2026", "role": "reader"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "ei voi olla pelkkä numero" in page and "lisää nimeen kirjaimia" in page
    assert "must not be a number" not in page


def test_an_api_key_name_in_use_is_refused_in_finnish(
    app: Any, container: Any, clock: Any
) -> None:
    client = admin_client(app, container, clock)
    assert post_form(client, "/staff/admin/apikeys",
                     {"name": "kirjanpito", "role": "reader"}).status_code == 200
    refused = post_form(client, "/staff/admin/apikeys", {"name": "kirjanpito", "role": "staff"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "on jo toisen avaimen nimi" in page
    assert "exists already" not in page


def test_wording_without_finnish_text_is_refused_in_finnish(
    app: Any, container: Any, clock: Any
) -> None:
    client = admin_client(app, container, clock)
    refused = post_form(client, "/staff/admin/notices",
                        {"fi": "", "sv": "Ny samtyckestext.", "en": ""})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "<strong>Suomenkielinen teksti</strong>: tarvitaan aina" in page
    assert "the Finnish text is required" not in page


def test_a_search_for_one_letter_asks_for_more_in_finnish(client: Any, container: Any) -> None:
    staff_client(client, container)
    page = post_form(client, "/staff/contacts", {"q": "m"}).get_data(as_text=True)
    assert "Kirjoita hakuun vähintään 2 merkkiä" in page
    assert "type at least" not in page


def test_correcting_to_another_persons_address_is_refused_in_finnish(
    client: Any, container: Any
) -> None:
    staff_client(client, container)
    post_form(client, "/staff/consents/new", VERBAL)
    other = post_form(client, "/staff/consents/new", {**VERBAL, "email": "ville@example.fi"})
    contact = other.headers["Location"]
    refused = post_form(client, f"{contact}/correct",
                        {"email": "maija@example.fi", "name": "", "phone": "", "language": "fi"},
                        page=contact)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "on jo toisen henkilön osoite" in page
    assert "another contact has this address" not in page


def test_verbal_consent_to_unpublished_wording_is_refused_in_finnish(
    client: Any, container: Any
) -> None:
    staff_client(client, container)
    refused = post_form(client, "/staff/consents/new", {**VERBAL, "notice": "99"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "<strong>Lupateksti</strong>: tätä versiota ei ole julkaistu" in page
    assert "does not exist" not in page


def test_a_website_form_naming_unpublished_wording_is_answered_in_swedish(client: Any) -> None:
    answer = client.post("/api/v1/subscribe", headers={"Accept": BROWSER}, data={
        "email": "maija@example.fi", "consent": "on", "language": "sv", "notice": "99"})
    page = answer.get_data(as_text=True)
    assert (answer.status_code, answer.mimetype) == (422, "text/html")
    assert "Samtyckestext" in page and "denna version har inte publicerats" in page
    assert "does not exist" not in page


def test_a_program_still_reads_the_english_problem(client: Any) -> None:
    answer = client.post("/api/v1/subscribe", json={
        "email": "maija@example.fi", "consent": True, "notice": 99})
    assert answer.status_code == 422
    assert answer.get_json()["fields"] == {"notice": "version 99 does not exist"}


def test_an_invisible_control_character_is_explained_in_finnish(client: Any) -> None:
    answer = client.post("/api/v1/subscribe", headers={"Accept": BROWSER}, data={
        "email": "maija@example.fi", "name": "Maija\x07", "consent": "on", "language": "fi"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422 and "näkymättömiä ohjausmerkkejä" in page
    assert "control characters" not in page

"""What a person reads on the public pages: the form given back with its problems, the limit
and a missing page in words and one language, and every channel they can stop."""

from __future__ import annotations

import email
import email.policy
import re
from typing import Any

from service.web import create_app
from tests.conftest import make_container
from tests.register_support import states, subscribe, unsubscribe_path

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_a_form_with_mistakes_comes_back_with_what_was_typed_and_each_problem_by_its_field(
    client: Any,
) -> None:
    answer = client.post("/api/v1/subscribe", headers={"Accept": BROWSER}, data={
        "email": "maija(at)example.fi", "name": "Maija Mäkelä", "phone": "040 123 4567",
        "channels": ["email", "sms"], "language": "fi"})
    page = answer.text
    assert (answer.status_code, answer.mimetype) == (422, "text/html")
    assert 'value="maija(at)example.fi"' in page and 'value="Maija Mäkelä"' in page
    assert 'value="040 123 4567"' in page and 'value="sms" checked' in page
    assert re.search(r'<input id="email"[^>]* aria-invalid="true" aria-describedby="email-error"',
                     page)
    assert '<p class="problems" id="email-error">Ei ole kelvollinen sähköpostiosoite' in page
    assert '<p class="problems" id="consent-error">Rastita ruutu, jos haluat tilata' in page
    assert 'aria-invalid' not in re.search(r'<input id="name"[^>]*>', page).group(0)  # type: ignore[union-attr]
    assert '<a href="#email"><strong>Sähköposti</strong>: ei ole kelvollinen' in page
    assert '<a href="/subscribe?lang=fi">← Palaa takaisin</a>' in page


def test_the_way_back_leads_to_the_practices_page_the_form_came_from(
    settings: Any, clock: Any
) -> None:
    container = make_container(settings, clock,
                               allowed_origins=("https://klinikka.example.fi",))
    try:
        page = create_app(container=container).test_client().post(
            "/api/v1/subscribe", headers={"Accept": BROWSER}, data={
                "email": "", "language": "sv",
                "next": "https://klinikka.example.fi/tack"}).text
        assert '<a href="https://klinikka.example.fi/tack">← Gå tillbaka</a>' in page
        assert "Rätta de här fälten" in page
    finally:
        container.close()


def test_a_program_posting_json_keeps_its_422_answer(client: Any) -> None:
    answer = client.post("/api/v1/subscribe", json={"email": "x", "consent": True})
    assert answer.status_code == 422
    assert answer.get_json()["error"] == "invalid_input"
    assert set(answer.get_json()["fields"]) == {"email"}


def test_too_many_attempts_says_how_long_to_wait_in_the_persons_language(
    settings: Any, clock: Any
) -> None:
    container = make_container(settings, clock, optin_rate_limit="1/minute")
    try:
        client = create_app(container=container).test_client()
        client.post("/unsubscribe?lang=sv", data={"email": "nobody@example.fi"})
        refused = client.post("/unsubscribe?lang=sv", data={"email": "nobody@example.fi"})
        assert refused.status_code == 429
        assert "<h1>För många försök</h1>" in refused.text
        assert "Vänta 1 minut och försök sedan igen." in refused.text
        assert "gick fel" not in refused.text
    finally:
        container.close()


def test_the_not_found_page_speaks_only_the_pages_language(client: Any) -> None:
    answer = client.get("/no-such-page?lang=sv")
    assert answer.status_code == 404
    assert "<h1>Sidan hittades inte</h1>" in answer.text
    assert '<a class="button" href="/subscribe?lang=sv">Till formuläret</a>' in answer.text
    assert "no such page" not in answer.text and "Något gick fel" not in answer.text
    assert client.get("/no-such-page", headers={"Accept": "application/json"}).get_json() == {
        "error": "not_found", "message": "no such page"}


def test_a_link_reopened_later_offers_to_stop_the_text_messages_still_sent(
    client: Any, container: Any
) -> None:
    pid = subscribe(container, "maija@example.fi", channels=("email", "sms"),
                    phone="+358401234567")
    path = unsubscribe_path(container, pid)
    client.post(path)
    later = client.get(path).text
    assert "ei lähetetä markkinointia (sähköposti)" in later
    assert "Tekstiviestejä numeroon +358 *** **67" in later
    assert ">Peru tekstiviestit</button>" in later
    client.post(path, data={"channel": "sms"})
    assert states(container)[(pid, "sms")] == "unsubscribed"
    assert "Tekstiviestejä numeroon" not in client.get(path).text


def test_send_me_my_link_serves_someone_whose_only_consent_left_is_text_messages(
    client: Any, container: Any
) -> None:
    pid = subscribe(container, "maija@example.fi", channels=("email", "sms"),
                    phone="+358401234567")
    client.post(unsubscribe_path(container, pid))
    assert client.post("/unsubscribe", data={"email": "maija@example.fi"}).status_code == 202
    container.worker().drain()
    [sent] = sorted(container.settings.outbox_dir.glob("*.eml"))
    message = email.message_from_bytes(sent.read_bytes(), policy=email.policy.default)
    body = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "sähköposti, tekstiviestit" in body
    link = re.search(r"https://consent\.example\.fi(/unsubscribe/[\w.\-]+)", body)
    assert link and link.group(1) == unsubscribe_path(container, pid, "sms")
    page = client.get(link.group(1)).text
    assert "Kun painat alla olevaa painiketta" in page and "(tekstiviesti)" in page


def test_the_thanks_page_names_text_messages_when_they_were_chosen(client: Any) -> None:
    answer = client.post("/api/v1/subscribe", headers={"Accept": BROWSER}, data={
        "email": "maija@example.fi", "phone": "040 123 4567", "channels": ["email", "sms"],
        "consent": "on", "language": "en"})
    assert answer.status_code == 202
    assert "You chose text messages too." in answer.text

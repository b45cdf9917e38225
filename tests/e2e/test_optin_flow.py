"""A visitor opts in, receives the confirmation, confirms, and the ledger can prove it."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select

from service.domain.models import ConsentEvent, Contact, Evidence, Subscription
from tests.conftest import make_container

CONFIRM_LINK = re.compile(r"https://consent\.example\.fi(/confirm/[A-Za-z0-9_.\-]+)")


def _text_part(message: Any) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def _ledger(container: Any) -> tuple[list[ConsentEvent], list[Evidence], list[Subscription]]:
    with container.session_factory() as session:
        events = list(session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)))
        evidence = list(session.scalars(select(Evidence).order_by(Evidence.id)))
        subs = list(session.scalars(select(Subscription)))
    return events, evidence, subs


def _optin_and_confirm(base: str, fetch_message: Any, container: Any) -> None:
    answer = requests.post(
        f"{base}/api/v1/subscribe",
        json={"email": " Maija.Meikalainen@Example.FI ", "name": "Maija", "consent": True,
              "language": "fi", "page_url": "https://klinikka.example.fi/uutiskirje"},
        headers={"User-Agent": "Testiselain/1.0"},
        timeout=10,
    )
    assert answer.status_code == 202
    assert answer.json() == {"status": "pending"}

    container.worker().drain()
    message = fetch_message()
    assert message["To"].addresses[0].addr_spec == "Maija.Meikalainen@Example.FI"
    assert "Vahvista" in message["Subject"]
    link = CONFIRM_LINK.search(_text_part(message))
    assert link, "the confirmation mail carries a link"
    path = link.group(1)

    page = requests.get(f"{base}{path}", timeout=10)
    assert page.status_code == 200
    assert "M***@Example.FI" in page.text
    assert '<form method="post"' in page.text
    events, _, subs = _ledger(container)
    assert [e.kind for e in events] == ["requested"]
    assert subs[0].state == "pending", "a GET on the confirmation link changes nothing"

    done = requests.post(f"{base}{path}", timeout=10, headers={"User-Agent": "Puhelin/2.0"})
    assert done.status_code == 200
    assert "Tilaus vahvistettu" in done.text

    events, evidence, subs = _ledger(container)
    assert [e.kind for e in events] == ["requested", "confirmed"]
    assert all(e.notice_version == 1 for e in events)
    assert subs[0].state == "subscribed"
    requested, confirmed = evidence
    assert requested.ip == "127.0.0.1" and requested.user_agent == "Testiselain/1.0"
    assert requested.page_url == "https://klinikka.example.fi/uutiskirje"
    assert '"consent": true' in (requested.fields_json or "")
    assert confirmed.ip == "127.0.0.1" and confirmed.user_agent == "Puhelin/2.0"
    assert events[0].occurred_at.tzinfo is not None
    with container.session_factory() as session:
        contact = session.scalars(select(Contact)).one()
    assert contact.email_key == "maija.meikalainen@example.fi"
    assert contact.email == "Maija.Meikalainen@Example.FI"


def test_opt_in_over_http_is_confirmed_through_a_real_smtp_server(
    settings: Any, clock: Any, smtp_sink: Any
) -> None:
    from service.web import create_app
    from tests.conftest import LiveServer

    container = make_container(settings, clock, smtp_url=smtp_sink.url,
                               mail_from="uutiskirje@klinikka.example.fi")
    server = LiveServer(create_app(container=container))
    try:
        _optin_and_confirm(server.url, lambda: smtp_sink.wait_for(1)[0], container)
        container.worker().drain()
        welcome = smtp_sink.wait_for(2)[1]
        assert "Tervetuloa" in welcome["Subject"]
    finally:
        server.stop()
        container.close()


def test_opt_in_over_http_is_confirmed_through_the_eml_outbox(
    live_server: Any, container: Any
) -> None:
    outbox: Path = container.settings.outbox_dir

    def newest_eml() -> Any:
        files = sorted(outbox.glob("*.eml"))
        assert len(files) == 1
        return email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)

    _optin_and_confirm(live_server.url, newest_eml, container)


def _html_part(message: Any) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def test_the_welcome_says_what_comes_how_often_how_to_leave_and_who_sends_it(
    settings: Any, clock: Any, smtp_sink: Any
) -> None:
    from service.web import create_app
    from tests.conftest import LiveServer

    container = make_container(settings, clock, smtp_url=smtp_sink.url,
                               mail_from="uutiskirje@klinikka.example.fi",
                               organization="Kiropraktikko Virtanen")
    server = LiveServer(create_app(container=container))
    try:
        assert requests.post(f"{server.url}/api/v1/subscribe", json={
            "email": "maija@example.fi", "phone": "040 123 4567", "channels": ["email", "sms"],
            "consent": True, "language": "fi"}, timeout=10).status_code == 202
        container.worker().drain()
        path = CONFIRM_LINK.search(_text_part(smtp_sink.wait_for(1)[0]))
        assert path
        asked = requests.get(f"{server.url}{path.group(1)}", timeout=10).text
        assert "Uutiskirjeen lähettää Kiropraktikko Virtanen." in asked
        assert "Valitsit myös tekstiviestit." in asked
        done = requests.post(f"{server.url}{path.group(1)}", timeout=10).text
        assert "jonka lähettää Kiropraktikko Virtanen" in done
        assert "Valitsit myös tekstiviestit." in done
        container.worker().drain()
        welcome = smtp_sink.wait_for(2)[1]
    finally:
        server.stop()
        container.close()
    text = _text_part(welcome).replace("\r\n", "\n")
    assert "Kiropraktikko Virtanen lähettää jatkossa uutiskirjeensä" in text
    assert "hyvinvointivinkeistä ja tarjouksista." in text
    assert "saat lyhyitä viestejä numeroon +358401234567" in text
    assert "Voit perua tilauksen milloin tahansa" in text
    footer = text.split("\n-- \n", 1)[1].splitlines()
    assert footer[:3] == ["Kiropraktikko Virtanen", "Kauppakatu 1, 40100 Jyväskylä",
                          "Ota yhteyttä: uutiskirje@klinikka.example.fi"]
    assert footer[3] == "Et halua enää viestejä? Peru tilaus:"
    assert re.fullmatch(r"<https://consent\.example\.fi/unsubscribe/[\w.\-]+>", footer[4])
    assert re.search(r'<a href="https://consent\.example\.fi/unsubscribe/[\w.\-]+">Peru tilaus</a>',
                     _html_part(welcome))

"""Messages received over real SMTP carry unsubscribe headers that parse as RFC 2369/8058 say."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from service.domain import ledger, optin, unsubscribe
from service.web import create_app
from tests.conftest import make_container
from tests.register_support import states, subscribe

LIST_ITEM = re.compile(r"<([^<>\s]+)>")


def list_unsubscribe_uris(value: str) -> list[str]:
    """Parse an RFC 2369 List-Unsubscribe value strictly: bracketed URIs, comma-separated."""
    items = [part.strip() for part in value.split(",")]
    uris = []
    for item in items:
        match = LIST_ITEM.fullmatch(item)
        assert match, f"{item!r} is not an angle-bracketed URI"
        uris.append(match.group(1))
    return uris


def welcome_and_link_messages(settings: Any, clock: Any, sink: Any, **overrides: Any) -> Any:
    container = make_container(settings, clock, smtp_url=sink.url, double_opt_in=False,
                               mail_from="uutiskirje@klinikka.example.fi", **overrides)
    form = optin.parse_opt_in({"email": "maija.meikalainen@example.fi", "consent": True},
                              default_language="fi")
    optin.request_opt_in(container.uow(), container.deps, form, optin.RequestContext())
    subscribe(container, "pekka@example.fi")
    unsubscribe.send_my_link(container.uow(), container.deps, "pekka@example.fi")
    container.worker().drain()
    return container, sink.wait_for(2)


def test_messages_over_smtp_carry_one_click_headers_as_rfc_8058_requires(
    settings: Any, clock: Any, smtp_sink: Any
) -> None:
    container, messages = welcome_and_link_messages(settings, clock, smtp_sink)
    try:
        for message in messages:
            (value,) = message.get_all("List-Unsubscribe")
            assert "=?" not in value, "no RFC 2047 encoded-words in a URL list"
            (uri,) = list_unsubscribe_uris(str(value))
            parts = urlsplit(uri)
            assert parts.scheme == "https" and parts.netloc == "consent.example.fi"
            assert parts.path.startswith("/unsubscribe/")
            assert "@" not in uri and "example.fi/unsubscribe/" in uri
            assert message.get_all("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
            text = message.get_body(preferencelist=("plain",)).get_content()
            assert uri in text, "a visible link in the body too"
        # The mail client's one-click POST to that URI withdraws.
        welcome = next(m for m in messages if "Tervetuloa" in m["Subject"])
        (uri,) = list_unsubscribe_uris(str(welcome["List-Unsubscribe"]))
        client = create_app(container=container).test_client()
        answer = client.post(urlsplit(uri).path, data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 200
        with container.uow() as uow:
            maija = ledger.find_contact_by_email(uow.session, "maija.meikalainen@example.fi")
            assert maija is not None
            pid = maija.public_id
        assert states(container)[(pid, "email")] == "unsubscribed"
    finally:
        container.close()


def test_mailto_stands_beside_the_https_link_when_configured(
    settings: Any, clock: Any, smtp_sink: Any
) -> None:
    container, messages = welcome_and_link_messages(
        settings, clock, smtp_sink, unsubscribe_mailto="pois@klinikka.example.fi")
    try:
        for message in messages:
            uris = list_unsubscribe_uris(str(message["List-Unsubscribe"]))
            assert uris[0].startswith("https://consent.example.fi/unsubscribe/")
            assert uris[1] == "mailto:pois@klinikka.example.fi?subject=unsubscribe"
    finally:
        container.close()


def test_without_https_no_one_click_is_advertised(
    settings: Any, clock: Any, smtp_sink: Any
) -> None:
    container, messages = welcome_and_link_messages(
        settings, clock, smtp_sink, public_url="http://127.0.0.1:8000")
    try:
        for message in messages:
            (uri,) = list_unsubscribe_uris(str(message["List-Unsubscribe"]))
            assert uri.startswith("http://127.0.0.1:8000/unsubscribe/")
            assert message.get_all("List-Unsubscribe-Post") is None
    finally:
        container.close()

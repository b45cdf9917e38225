"""Addresses such as jörg@example.fi (RFC 6531) are taken at every entry point and delivered.

A local part with letters such as ö goes with SMTPUTF8 to a server that offers it; to one that
does not, the message is parked at once with a reason staff can act on. An internationalised
domain alone goes in its ASCII (IDNA) form and needs nothing from the server.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from service.domain import importer
from service.domain.models import Contact, OutboxItem
from tests.conftest import make_container
from tests.register_support import readiness_details
from tests.smtp_sink import SmtpSink, addr_specs
from tests.staff_support import add_account, login, post_form

JORG = "jörg@example.fi"
CONFIRM_LINK = re.compile(r"https://consent\.example\.fi(/confirm/[A-Za-z0-9_.\-]+)")


@pytest.fixture
def utf8_sink() -> Iterator[SmtpSink]:
    """An SMTP server that offers SMTPUTF8."""
    sink = SmtpSink(smtputf8=True)
    yield sink
    sink.stop()


def _container(settings: Any, clock: Any, sink: SmtpSink, **overrides: Any) -> Any:
    return make_container(settings, clock, smtp_url=sink.url,
                          mail_from="uutiskirje@klinikka.example.fi", **overrides)


def _client(container: Any) -> Any:
    from service.web import create_app

    return create_app(container=container).test_client()


def _contacts(container: Any) -> list[Contact]:
    with container.session_factory() as session:
        return list(session.scalars(select(Contact).order_by(Contact.id)))


def _mail_rows(container: Any) -> list[OutboxItem]:
    with container.session_factory() as session:
        return list(session.scalars(
            select(OutboxItem).where(OutboxItem.kind == "mail").order_by(OutboxItem.id)))


def _text(message: Any) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())


def test_international_address_opted_in_over_the_api_is_delivered_with_smtputf8(
    settings: Any, clock: Any, utf8_sink: SmtpSink
) -> None:
    container = _container(settings, clock, utf8_sink)
    try:
        client = _client(container)
        typed = unicodedata.normalize("NFD", JORG)  # as some keyboards and forms send it
        answer = client.post("/api/v1/subscribe", json={"email": typed, "consent": True})
        assert answer.status_code == 202
        container.worker().drain()

        [confirmation] = utf8_sink.wait_for(1)
        [envelope] = utf8_sink.envelopes
        assert envelope.rcpt_tos == [JORG]
        assert "SMTPUTF8" in envelope.mail_options
        assert addr_specs(confirmation, "To") == [JORG]
        assert JORG in _text(confirmation)
        [contact] = _contacts(container)
        assert contact.email == JORG, "stored in the very form mail was sent to"
        assert confirmation["List-Id"] is None, "the confirmation request is transactional"

        link = CONFIRM_LINK.search(_text(confirmation))
        assert link
        assert client.get(link.group(1)).status_code == 200
        confirmed = client.post(link.group(1))
        assert confirmed.status_code == 200, "the confirm button works for such an address"
        container.worker().drain()
        welcome = utf8_sink.wait_for(2)[1]
        assert addr_specs(welcome, "To") == [JORG]
        assert str(welcome["List-Id"]) == (
            "Kiropraktikko Testi newsletter <newsletter.klinikka.example.fi>")
        assert welcome["Content-Language"] == "fi"
        assert [row.status for row in _mail_rows(container)] == ["done", "done"]
    finally:
        container.close()


def test_international_address_from_the_public_form_is_stored_as_it_is_sent(
    settings: Any, clock: Any, utf8_sink: SmtpSink
) -> None:
    container = _container(settings, clock, utf8_sink, double_opt_in=False)
    try:
        answer = _client(container).post(
            "/api/v1/subscribe", data={"email": " JÖRG@EXÄMPLE.FI ", "consent": "on"})
        assert answer.status_code == 202
        container.worker().drain()
        [welcome] = utf8_sink.wait_for(1)
        [contact] = _contacts(container)
        assert (contact.email, contact.email_key) == ("JÖRG@exämple.fi", "jörg@exämple.fi")
        # The local part needs SMTPUTF8; the domain still goes in its ASCII form.
        assert utf8_sink.envelopes[0].rcpt_tos == ["JÖRG@xn--exmple-cua.fi"]
        assert addr_specs(welcome, "To") == ["JÖRG@xn--exmple-cua.fi"]
        assert welcome["List-Id"] is not None
    finally:
        container.close()


def test_verbal_consent_for_an_international_address_is_recorded_and_its_receipt_sent(
    settings: Any, clock: Any, utf8_sink: SmtpSink
) -> None:
    container = _container(settings, clock, utf8_sink)
    try:
        client = _client(container)
        add_account(container, "liisa")
        login(client, "liisa")
        answer = post_form(client, "/staff/consents/new", {
            "email": unicodedata.normalize("NFD", JORG), "channels": "email",
            "method": "in_person", "language": "fi"})
        assert answer.status_code == 302, answer.get_data(as_text=True)[:500]
        assert "/staff/contacts/" in answer.headers["Location"]
        container.worker().drain()
        [receipt] = utf8_sink.wait_for(1)
        assert utf8_sink.envelopes[0].rcpt_tos == [JORG]
        assert addr_specs(receipt, "To") == [JORG]
        assert receipt["List-Id"] is None, "a consent receipt is transactional"
        [contact] = _contacts(container)
        assert contact.email == JORG
    finally:
        container.close()


def test_internationalised_domain_alone_is_delivered_without_smtputf8(
    settings: Any, clock: Any, smtp_sink: Any
) -> None:
    container = _container(settings, clock, smtp_sink)  # this server offers no SMTPUTF8
    try:
        answer = _client(container).post(
            "/api/v1/subscribe", json={"email": "maija@EXÄMPLE.fi", "consent": True})
        assert answer.status_code == 202
        container.worker().drain()
        [message] = smtp_sink.wait_for(1)
        [envelope] = smtp_sink.envelopes
        assert envelope.rcpt_tos == ["maija@xn--exmple-cua.fi"]
        assert "SMTPUTF8" not in envelope.mail_options
        assert addr_specs(message, "To") == ["maija@xn--exmple-cua.fi"]
        [contact] = _contacts(container)
        assert contact.email == "maija@exämple.fi"
        assert "maija@exämple.fi" in _text(message), "the person reads their address as typed"
    finally:
        container.close()


def test_server_without_smtputf8_parks_the_message_at_once_with_its_reason(
    settings: Any, clock: Any, smtp_sink: Any, caplog: pytest.LogCaptureFixture
) -> None:
    container = _container(settings, clock, smtp_sink)  # this server offers no SMTPUTF8
    caplog.set_level(logging.DEBUG)
    try:
        client = _client(container)
        assert client.post("/api/v1/subscribe",
                           json={"email": JORG, "consent": True}).status_code == 202
        container.worker().drain()
        [row] = _mail_rows(container)
        assert (row.status, row.attempts) == ("dead", 1), "parked at the first attempt"
        assert row.last_error is not None
        assert "does not accept international addresses (SMTPUTF8)" in row.last_error
        assert "ask the mail provider to enable it" in row.last_error

        body = readiness_details(client, container)
        assert body["outbox"]["parked"] == {"mail": 1}
        assert body["outbox"]["dead"] == 1
        assert "jörg" not in json.dumps(body, ensure_ascii=False)

        clock.advance(days=4)
        container.worker().drain()
        [row] = _mail_rows(container)
        assert (row.status, row.attempts) == ("dead", 1), "a parked message is never retried"
        assert smtp_sink.messages == [] and smtp_sink.handler.transactions == 0
        parked = [r for r in caplog.records if "parked" in r.getMessage()]
        assert len(parked) == 1 and parked[0].exc_info is None, "one line, no traceback"
        assert all("jörg" not in r.getMessage() and "j\u00f6rg" not in r.getMessage()
                   for r in caplog.records), "no addresses in the log"
    finally:
        container.close()


def test_parked_message_goes_once_released_after_the_server_offers_smtputf8(
    settings: Any, clock: Any
) -> None:
    from service.domain import outbox

    plain = SmtpSink()
    port = plain.port
    container = make_container(settings, clock, smtp_url=plain.url, mail_from="a@b.fi")
    try:
        _client(container).post("/api/v1/subscribe", json={"email": JORG, "consent": True})
        container.worker().drain()
        plain.stop()
        upgraded = SmtpSink(port=port, smtputf8=True)
        try:
            with container.session_factory() as session:
                [item] = outbox.parked(session, kind="mail")
                assert item.reason and "SMTPUTF8" in item.reason
                assert outbox.release(session, item.id, now=clock.now())
                session.commit()
            container.worker().drain()
            upgraded.wait_for(1)
            assert upgraded.envelopes[0].rcpt_tos == [JORG]
            assert [row.status for row in _mail_rows(container)] == ["done"]
        finally:
            upgraded.stop()
    finally:
        container.close()


def test_import_stores_international_addresses_in_their_normal_form(container: Any) -> None:
    text = ("email;name\n"
            f"{unicodedata.normalize('NFD', JORG)};Jörg\n"
            "maija@xn--exmple-cua.fi;Maija\n"
            "MAIJA@EXÄMPLE.FI;Maija again\n")
    _, rows = importer.read_rows(text)
    report = importer.import_rows(container.uow(), container.deps, rows, notice_version=1,
                                  file_name="asiakkaat.csv")
    assert report.imported == 2
    assert report.rejected == [(4, "the same address as line 3")]
    assert [(c.email, c.email_key) for c in _contacts(container)] == [
        (JORG, JORG), ("maija@exämple.fi", "maija@exämple.fi")]


def test_form_webhook_with_an_international_address_records_it_in_normal_form(
    live_server: Any, container: Any
) -> None:
    import requests

    from tests.webhook_support import add_source

    token = add_source(container, "site", "cf7", mapping={"consent": ["uutiskirje"]})
    assert token is not None
    answer = requests.post(
        f"{live_server.url}/webhooks/forms/site", timeout=10,
        json={"your-email": unicodedata.normalize("NFD", JORG), "uutiskirje": "1"},
        headers={"X-Consent-Secret": token})
    assert answer.status_code == 200
    [contact] = _contacts(container)
    assert contact.email == JORG
    [row] = _mail_rows(container)
    assert json.loads(row.payload_json)["recipients"] == [JORG], "mail goes to the stored form"


def test_unsubscribe_link_of_an_international_address_is_a_plain_https_uri(
    settings: Any, clock: Any, utf8_sink: SmtpSink
) -> None:
    container = _container(settings, clock, utf8_sink, double_opt_in=False)
    try:
        _client(container).post("/api/v1/subscribe", json={"email": JORG, "consent": True})
        container.worker().drain()
        [welcome] = utf8_sink.wait_for(1)
        value = str(welcome["List-Unsubscribe"])
        uri = value.strip("<>")
        assert urlsplit(uri).scheme == "https" and uri.isascii()
    finally:
        container.close()


def test_eml_outbox_writes_a_message_to_an_international_address(container: Any) -> None:
    import email
    import email.policy

    client = _client(container)
    assert client.post("/api/v1/subscribe",
                       json={"email": JORG, "consent": True}).status_code == 202
    container.worker().drain()
    [written] = sorted(container.settings.outbox_dir.glob("*.eml"))
    message = email.message_from_bytes(written.read_bytes(), policy=email.policy.default)
    assert addr_specs(message, "To") == [JORG]
    assert [row.status for row in _mail_rows(container)] == ["done"]


def test_staff_see_parked_mail_with_its_reason_and_send_it_again(
    settings: Any, clock: Any, smtp_sink: Any
) -> None:
    from tests.staff_support import add_account, audit_actions, csrf_from, enrol_and_login

    container = _container(settings, clock, smtp_sink)  # this server offers no SMTPUTF8
    try:
        client = _client(container)
        client.post("/api/v1/subscribe", json={"email": JORG, "consent": True})
        container.worker().drain()
        add_account(container, "omistaja", admin=True)
        enrol_and_login(client, clock, "omistaja")
        home = client.get("/staff/contacts").get_data(as_text=True)
        assert "Lähettämättömiä viestejä: 1." in home
        page = client.get("/staff/admin/mail").get_data(as_text=True)
        assert "does not accept international addresses (SMTPUTF8)" in page
        assert JORG not in page, "the reason and a link to the person, not the address"
        [row] = _mail_rows(container)
        again = client.post(f"/staff/admin/mail/{row.id}/send-again",
                            data={"csrf_token": csrf_from(page)})
        assert again.status_code == 302
        [row] = _mail_rows(container)
        assert (row.status, row.attempts) == ("pending", 0)
        assert "mail.send_again" in audit_actions(container)
        assert "Lähettämättömiä" not in client.get("/staff/contacts").get_data(as_text=True)
    finally:
        container.close()

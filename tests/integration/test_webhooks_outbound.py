"""Outbound consent events: signed per Standard Webhooks, retried until delivered, once each."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from service.bootstrap import build
from service.domain import domain_events, ledger, outbox, webhooks_out
from service.domain.actors import Actor
from service.domain.models import EventKind, Method, WebhookDelivery, WebhookEndpoint
from service.domain.normalize import parse_email
from service.domain.outbox_worker import OutboxWorker
from service.domain.webhooks_out.delivery import DeliveryService, Reply
from service.domain.webhooks_out.emission import WEBHOOK_EVENT_KIND
from service.domain.webhooks_out.fan_out import FanOut
from tests.tls_support import issue, make_ca
from tests.webhook_support import add_source, subscribed
from webhooks import standard_webhooks
from webhooks.outbound import RequestsSender, resolve_host

OPT_IN = {"email": "maija@example.fi", "consent": True}


class Receiver:
    """An HTTP endpoint on loopback that verifies every delivery and answers as scripted.

    With a TLS context it answers HTTPS and notes the name each client asked for (SNI).
    """

    def __init__(self, port: int = 0, *, tls: ssl.SSLContext | None = None,
                 host: str = "127.0.0.1") -> None:
        self.secret = ""
        self.now = 0
        self.replies: list[tuple[int, dict[str, str], float]] = []
        self.received: list[dict[str, Any]] = []
        self.server_names: list[str | None] = []
        self.hits = 0  # every POST that arrived, verified or not
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.hits += 1
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, headers, delay = (receiver.replies.pop(0) if receiver.replies
                                          else (200, {}, 0.0))
                standard_webhooks.verify(receiver.secret, dict(self.headers), body,
                                         now=receiver.now)
                receiver.received.append({"id": self.headers["webhook-id"],
                                          "body": json.loads(body), "status": status,
                                          "raw": body, "headers": dict(self.headers)})
                time.sleep(delay)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        scheme = "http"
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://{host}:{self.server.server_port}/hook"
        # A short poll lets shutdown() return at once rather than after 0.5 s.
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(container: Any) -> Iterator[Receiver]:
    server = Receiver()
    server.now = int(container.clock.now().timestamp())
    yield server
    server.stop()


def _endpoint(container: Any, url: str, events: tuple[str, ...] = ("all",), **kw: Any) -> str:
    _info, secret = webhooks_out.add_endpoint(container.uow(), url, events,
                                            now=container.clock.now(), resolve=resolve_host,
                                            allow_private=True, **kw)
    return secret


def _deliveries(container: Any) -> list[WebhookDelivery]:
    with container.session_factory() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def _drain(container: Any) -> None:
    container.worker().drain()


def _fan_out(container: Any) -> None:
    """Turn queued webhook events into deliveries, sending none of them yet."""
    fan_out = container.handlers()[WEBHOOK_EVENT_KIND]
    OutboxWorker(container.session_factory, container.clock, {WEBHOOK_EVENT_KIND: fan_out}).drain()


def test_every_delivery_is_signed_and_verifies_on_a_loopback_receiver(
    client: Any, container: Any, receiver: Receiver
) -> None:
    receiver.secret = _endpoint(container, receiver.url)
    assert client.post("/api/v1/subscribe", json=OPT_IN).status_code == 202
    _drain(container)
    [got] = receiver.received
    assert got["id"].startswith("msg_")
    assert got["body"]["type"] == "consent.requested"
    data = got["body"]["data"]
    assert data["channel"] == "email" and data["state"] == "pending"
    assert data["method"] == "web_form"
    # No personal data unless the endpoint is allowed it.
    assert "maija" not in json.dumps(got["body"])
    assert [d.status for d in _deliveries(container)] == ["delivered"]


def test_endpoint_allowed_personal_data_gets_the_address(
    client: Any, container: Any, receiver: Receiver
) -> None:
    receiver.secret = _endpoint(container, receiver.url, ("consent.requested",),
                                include_personal_data=True)
    client.post("/api/v1/subscribe", json=OPT_IN)
    _drain(container)
    assert receiver.received[0]["body"]["data"]["email"] == "maija@example.fi"


def test_only_the_chosen_event_types_are_sent(
    client: Any, container: Any, receiver: Receiver
) -> None:
    receiver.secret = _endpoint(container, receiver.url, ("address.bounced",))
    client.post("/api/v1/subscribe", json=OPT_IN)
    _drain(container)
    assert receiver.received == []
    token = add_source(container, "postmark", "postmark")
    subscribed(container, "pekka@example.fi")
    client.post("/webhooks/email/postmark", headers={"X-Consent-Secret": token},
                json={"RecordType": "Bounce", "Type": "HardBounce", "ID": 1,
                      "Email": "pekka@example.fi"})
    _drain(container)
    [got] = receiver.received
    assert got["body"]["type"] == "address.bounced"
    assert got["body"]["data"]["undeliverable"] is True


def test_a_receiver_answering_500_gets_the_event_later_once(
    client: Any, container: Any, receiver: Receiver
) -> None:
    receiver.secret = _endpoint(container, receiver.url)
    receiver.replies = [(500, {}, 0.0)]
    client.post("/api/v1/subscribe", json=OPT_IN)
    _drain(container)
    assert [r["status"] for r in receiver.received] == [500]
    assert _deliveries(container)[0].status == "pending"
    container.clock.advance(seconds=10)
    _drain(container)
    container.clock.advance(days=4)
    _drain(container)
    assert [r["status"] for r in receiver.received] == [500, 200]
    assert len({r["id"] for r in receiver.received}) == 1
    assert _deliveries(container)[0].status == "delivered"
    assert [a.status_code for a in webhooks_out.list_deliveries(container.uow())[0].attempts] \
        == [500, 200]


def test_429_retry_after_is_honoured(client: Any, container: Any, receiver: Receiver) -> None:
    receiver.secret = _endpoint(container, receiver.url)
    receiver.replies = [(429, {"Retry-After": "120"}, 0.0)]
    client.post("/api/v1/subscribe", json=OPT_IN)
    _drain(container)
    container.clock.advance(seconds=100)
    _drain(container)
    assert len(receiver.received) == 1
    container.clock.advance(seconds=21)
    receiver.now = int(container.clock.now().timestamp())
    _drain(container)
    assert [r["status"] for r in receiver.received] == [429, 200]


def test_a_receiver_that_is_down_gets_the_event_when_it_is_back(
    client: Any, container: Any
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    secret = _endpoint(container, f"http://127.0.0.1:{port}/hook")
    client.post("/api/v1/subscribe", json=OPT_IN)
    _drain(container)
    [attempt] = webhooks_out.list_deliveries(container.uow())[0].attempts
    assert attempt.status_code is None and attempt.error
    back = Receiver(port)
    try:
        back.secret = secret
        container.clock.advance(seconds=10)
        back.now = int(container.clock.now().timestamp())
        _drain(container)
        assert len(back.received) == 1
        assert _deliveries(container)[0].status == "delivered"
    finally:
        back.stop()


def test_a_slow_receiver_times_out_and_gets_the_same_webhook_id_again(
    client: Any, container: Any, receiver: Receiver
) -> None:
    container.webhook_delivery = DeliveryService(container.session_factory, container.clock,
                                                 RequestsSender(0.5), resolve_host)
    receiver.secret = _endpoint(container, receiver.url)
    receiver.replies = [(200, {}, 1.5)]
    client.post("/api/v1/subscribe", json=OPT_IN)
    _drain(container)
    assert _deliveries(container)[0].status == "pending"
    container.clock.advance(seconds=10)
    receiver.now = int(container.clock.now().timestamp())
    _drain(container)
    assert len(receiver.received) == 2
    assert receiver.received[0]["id"] == receiver.received[1]["id"]
    assert _deliveries(container)[0].status == "delivered"


def test_410_disables_the_endpoint(client: Any, container: Any, receiver: Receiver) -> None:
    receiver.secret = _endpoint(container, receiver.url)
    receiver.replies = [(410, {}, 0.0)]
    client.post("/api/v1/subscribe", json=OPT_IN)
    _drain(container)
    [endpoint] = webhooks_out.list_endpoints(container.uow())
    assert endpoint.disabled_at is not None and "410" in (endpoint.disabled_reason or "")
    client.post("/api/v1/subscribe", json={**OPT_IN, "email": "pekka@example.fi"})
    container.clock.advance(days=1)
    _drain(container)
    assert len(receiver.received) == 1
    assert len(_deliveries(container)) == 1


def test_redeliver_sends_the_same_webhook_id_and_body_again(
    client: Any, container: Any, receiver: Receiver
) -> None:
    receiver.secret = _endpoint(container, receiver.url)
    client.post("/api/v1/subscribe", json=OPT_IN)
    _drain(container)
    webhooks_out.redeliver(container.uow(), _deliveries(container)[0].id,
                         now=container.clock.now())
    _drain(container)
    first, second = receiver.received
    assert (first["id"], first["body"]) == (second["id"], second["body"])


def test_rotated_secrets_both_sign_during_the_rotation(
    client: Any, container: Any, receiver: Receiver
) -> None:
    old = _endpoint(container, receiver.url)
    [endpoint] = webhooks_out.list_endpoints(container.uow())
    new = webhooks_out.rotate_secret(container.uow(), endpoint.id, now=container.clock.now())
    for secret in (old, new):
        receiver.secret = secret
        receiver.received.clear()
        client.post("/api/v1/subscribe", json={**OPT_IN, "email": f"x{len(secret)}"
                                               f"{secret[-4:].lower()}@example.fi"})
        _drain(container)
        assert len(receiver.received) == 1  # verify() inside the receiver passed


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook", "http://[::1]/hook", "http://10.1.2.3/hook",
    "http://192.168.1.20/hook", "http://169.254.169.254/latest/meta-data",
    "http://localhost/hook",
])
def test_private_and_loopback_targets_are_refused_unless_allowed(
    container: Any, url: str
) -> None:
    with pytest.raises(webhooks_out.TargetRefused):
        webhooks_out.add_endpoint(container.uow(), url, ["all"], now=container.clock.now(),
                                resolve=resolve_host)
    info, _ = webhooks_out.add_endpoint(container.uow(), url, ["all"], now=container.clock.now(),
                                      resolve=resolve_host, allow_private=True)
    assert info.allow_private


def test_a_host_that_later_resolves_to_a_private_address_gets_nothing(
    client: Any, container: Any, receiver: Receiver
) -> None:
    public = {"hooks.example.com": ["93.184.215.14"]}
    webhooks_out.add_endpoint(container.uow(), "http://hooks.example.com/hook", ["all"],
                            now=container.clock.now(), resolve=lambda h: public[h])
    sent: list[str] = []

    class Recorder:
        def send(self, url: str, *args: Any, **kwargs: Any) -> Reply:
            sent.append(url)
            return Reply(200)

    container.webhook_delivery = DeliveryService(container.session_factory, container.clock,
                                                 Recorder(), resolve=lambda h: ["127.0.0.1"])
    client.post("/api/v1/subscribe", json=OPT_IN)
    _drain(container)
    assert sent == []
    [delivery] = webhooks_out.list_deliveries(container.uow())
    assert delivery.status == "failed" and "loopback" in (delivery.attempts[0].error or "")


def test_contact_erased_scrubs_queued_personal_data_and_names_only_the_id(
    client: Any, container: Any, receiver: Receiver
) -> None:
    receiver.secret = _endpoint(container, receiver.url, include_personal_data=True)
    client.post("/api/v1/subscribe", json=OPT_IN)
    _fan_out(container)  # the delivery is made, with the address, and not yet sent
    [delivery] = _deliveries(container)
    public_id = json.loads(delivery.payload_json)["data"]["contact_id"]
    assert "maija" in delivery.payload_json
    with container.uow() as uow:
        domain_events.record(uow.session, domain_events.ContactErased(
            public_id, container.clock.now()))
        uow.commit()
    _drain(container)
    assert "maija" not in json.dumps([r["body"] for r in receiver.received])
    assert [r["body"]["type"] for r in receiver.received] == ["consent.requested",
                                                             "contact.erased"]
    with container.session_factory() as session:
        assert session.scalar(select(WebhookEndpoint.disabled_at)) is None


def test_deliveries_verify_with_the_standard_webhooks_reference_library(
    client: Any, container: Any, receiver: Receiver
) -> None:
    # The reference library checks the timestamp against the real clock.
    container.clock.current = datetime.now(UTC)
    receiver.now = int(container.clock.now().timestamp())
    secret = _endpoint(container, receiver.url)
    [endpoint] = webhooks_out.list_endpoints(container.uow())
    rotated = webhooks_out.rotate_secret(container.uow(), endpoint.id, now=container.clock.now())
    receiver.secret = rotated
    assert client.post("/api/v1/subscribe", json=OPT_IN).status_code == 202
    _drain(container)
    [got] = receiver.received
    for key in (secret, rotated):  # both sign while the old one is being retired
        assert Webhook(key).verify(got["raw"], got["headers"]) == got["body"]
    tampered = got["raw"].replace(b"consent.requested", b"consent.confirmed")
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(secret).verify(tampered, got["headers"])


class RebindingDns:
    """DNS with a zero TTL that answers a public address first, then loopback."""

    def __init__(self, public_answers: int) -> None:
        self.public_answers = public_answers
        self.asked: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        return ["93.184.215.14"] if len(self.asked) <= self.public_answers else ["127.0.0.1"]


def test_dns_rebinding_after_the_check_cannot_reach_a_local_listener(
    client: Any, container: Any, receiver: Receiver
) -> None:
    # "localhost" resolves to the listener for anyone who asks the system again.
    url = receiver.url.replace("127.0.0.1", "localhost")
    dns = RebindingDns(public_answers=2)  # adding the endpoint, then checking the delivery
    receiver.secret = webhooks_out.add_endpoint(container.uow(), url, ["all"],
                                              now=container.clock.now(), resolve=dns)[1]
    container.webhook_delivery = DeliveryService(container.session_factory, container.clock,
                                                 RequestsSender(timeout=1.0), resolve=dns)
    client.post("/api/v1/subscribe", json=OPT_IN)
    _drain(container)
    assert receiver.hits == 0
    assert dns.asked == ["localhost", "localhost"]  # once to add, once per delivery
    [delivery] = webhooks_out.list_deliveries(container.uow())
    [attempt] = delivery.attempts
    assert attempt.status_code is None and "refused" not in (attempt.error or "")


@pytest.fixture
def tls_receiver(container: Any, tmp_path: Path) -> Iterator[tuple[Receiver, str]]:
    """An HTTPS receiver on loopback whose certificate is for hooks.example.test only."""
    now = datetime.now(UTC)
    ca_key, ca = make_ca("Test Web CA", now)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = issue(ca_key, ca, key.public_key(), "hooks.example.test",
                 not_before=now - timedelta(days=1), not_after=now + timedelta(days=30))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = Receiver(tls=context, host="hooks.example.test")
    server.now = int(container.clock.now().timestamp())
    yield server, str(tmp_path / "ca.pem")
    server.stop()


def test_a_checked_address_is_reached_with_tls_verified_for_the_host_name(
    client: Any, container: Any, tls_receiver: tuple[Receiver, str]
) -> None:
    server, ca_bundle = tls_receiver
    dns = {"hooks.example.test": ["127.0.0.1"], "other.example.test": ["127.0.0.1"]}
    server.secret = webhooks_out.add_endpoint(
        container.uow(), server.url, ["consent.requested"], now=container.clock.now(),
        resolve=dns.__getitem__, allow_private=True)[1]
    # Same address, a name the certificate does not cover: TLS must fail.
    wrong = server.url.replace("hooks.example.test", "other.example.test")
    webhooks_out.add_endpoint(container.uow(), wrong, ["consent.requested"],
                            now=container.clock.now(), resolve=dns.__getitem__,
                            allow_private=True)
    container.webhook_delivery = DeliveryService(container.session_factory, container.clock,
                                                 RequestsSender(timeout=5, verify=ca_bundle),
                                                 resolve=dns.__getitem__)
    client.post("/api/v1/subscribe", json=OPT_IN)
    _drain(container)
    [got] = server.received
    port = server.url.rsplit(":", 1)[1].split("/")[0]
    assert got["headers"]["Host"] == f"hooks.example.test:{port}"
    assert "hooks.example.test" in server.server_names
    assert "other.example.test" in server.server_names  # it was asked, and refused
    by_endpoint = {d.endpoint_id: d for d in webhooks_out.list_deliveries(container.uow())}
    good, bad = by_endpoint[1], by_endpoint[2]
    assert good.status == "delivered"
    assert bad.status == "pending" and "TLS" in (bad.attempts[0].error or "")


# Two writers at once: PostgreSQL only (SQLite lets one write transaction in at a time).
@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgresql)],
                         indirect=True)
def test_an_endpoint_added_by_another_process_gets_an_event_committed_after_it(
    container: Any, receiver: Receiver
) -> None:
    other = build(container.settings, clock=container.clock, migrate=False)
    now = container.clock.now()
    try:
        with container.uow() as uow:
            # The change began before the endpoint existed and commits after it was added.
            person, _ = ledger.upsert_contact(uow.session, parse_email("maija@example.fi"),
                                              name=None, phone=None, language="fi", now=now)
            ledger.record(uow.session, person, "email", EventKind.GRANTED,
                          Method.VERBAL_IN_PERSON, Actor.person(), now=now)
            receiver.secret = _endpoint(other, receiver.url)
            uow.commit()
    finally:
        other.close()
    _drain(container)
    assert [r["body"]["type"] for r in receiver.received] == ["consent.granted"]


@pytest.mark.both_databases
def test_fanning_an_event_out_again_adds_no_second_delivery(
    client: Any, container: Any, receiver: Receiver
) -> None:
    receiver.secret = _endpoint(container, receiver.url, include_personal_data=True)
    client.post("/api/v1/subscribe", json=OPT_IN)
    with container.session_factory() as session:
        item = outbox.claim_due(session, now=container.clock.now(), lease=timedelta(minutes=5),
                                kinds=(WEBHOOK_EVENT_KIND,))[0]
        session.commit()
    fan_out = FanOut(container.session_factory)
    fan_out.fan_out(item)
    fan_out.fan_out(item)  # as after a worker died before marking the item done
    [delivery] = _deliveries(container)
    assert delivery.message_id.startswith("msg_") and len(delivery.message_id) == 36
    _drain(container)
    assert len(receiver.received) == 1

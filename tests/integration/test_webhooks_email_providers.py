"""Email providers' bounce and complaint webhooks: each sample changes state as it should."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from service.domain import register
from service.domain.models import ActorType, Method
from tests.tls_support import dn, issue, make_ca, pem_bundle
from tests.webhook_support import (
    add_source,
    contact,
    events,
    evidence_of,
    states,
    subscribed,
)
from webhooks import sns

ADDRESS = "maija@example.fi"


def _basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def _on_register(container: Any, email: str) -> bool:
    """Tell whether the address is among the register's email recipients."""
    with container.session_factory() as session:
        entries = register.read_batch(session, channel="email")
    return any(e.email == email for e in entries)


def _assert_hard_bounced(container: Any) -> None:
    person = contact(container, ADDRESS)
    assert person is not None and person.email_undeliverable_at is not None
    last = [e for e in events(container) if e.contact_id == person.id][-1]
    assert (last.kind, last.method) == ("bounced", Method.PROVIDER_BOUNCE)
    assert not _on_register(container, ADDRESS)


def _assert_complained(container: Any, provider: str) -> None:
    assert states(container, ADDRESS) == {"email": "unsubscribed"}
    last = events(container)[-1]
    assert (last.kind, last.method, last.source) == ("complained", Method.PROVIDER_COMPLAINT,
                                                    provider)


def _unchanged(container: Any) -> None:
    person = contact(container, ADDRESS)
    assert person is not None and person.email_undeliverable_at is None
    assert person.soft_bounces == 0
    assert states(container, ADDRESS) == {"email": "subscribed"}


# --- Postmark ------------------------------------------------------------------------------


def test_postmark_hard_bounce_takes_the_address_off_the_register(
    client: Any, container: Any
) -> None:
    token = add_source(container, "postmark", "postmark")
    subscribed(container, ADDRESS)
    assert _on_register(container, ADDRESS)
    body = {"RecordType": "Bounce", "ID": 4323372036854775807, "Type": "HardBounce",
            "TypeCode": 1, "Email": ADDRESS, "BouncedAt": "2026-11-20T09:00:00Z"}
    answer = client.post("/webhooks/email/postmark", json=body,
                         headers=_basic("postmark", token))
    assert answer.status_code == 200 and answer.json["applied"] == 1
    _assert_hard_bounced(container)
    again = client.post("/webhooks/email/postmark", json=body, headers=_basic("postmark", token))
    assert again.status_code == 200 and again.json["duplicates"] == 1
    assert [e.kind for e in events(container)] == ["granted", "bounced"]


def test_postmark_spam_complaint_withdraws_email_consent(client: Any, container: Any) -> None:
    token = add_source(container, "postmark", "postmark")
    subscribed(container, ADDRESS)
    body = {"RecordType": "SpamComplaint", "ID": 42, "Type": "SpamComplaint", "Email": ADDRESS}
    assert client.post("/webhooks/email/postmark", json=body,
                       headers=_basic("postmark", token)).status_code == 200
    _assert_complained(container, "postmark")


def test_postmark_soft_bounce_is_counted(client: Any, container: Any) -> None:
    token = add_source(container, "postmark", "postmark")
    subscribed(container, ADDRESS)
    body = {"RecordType": "Bounce", "ID": 7, "Type": "SoftBounce", "Email": ADDRESS}
    client.post("/webhooks/email/postmark", json=body, headers=_basic("postmark", token))
    person = contact(container, ADDRESS)
    assert person is not None and person.soft_bounces == 1
    assert person.email_undeliverable_at is None


def test_postmark_with_wrong_credentials_changes_nothing(client: Any, container: Any) -> None:
    add_source(container, "postmark", "postmark")
    subscribed(container, ADDRESS)
    body = {"RecordType": "SpamComplaint", "ID": 42, "Email": ADDRESS}
    assert client.post("/webhooks/email/postmark", json=body,
                       headers=_basic("postmark", "wrong")).status_code == 401
    assert client.post("/webhooks/email/postmark", json=body).status_code == 401
    _unchanged(container)


def _subscription_change(reason: str | None, *, suppress: bool = True,
                         origin: str = "Recipient") -> dict[str, Any]:
    """A Broadcast stream's SubscriptionChange as Postmark documents it."""
    return {"RecordType": "SubscriptionChange", "MessageID": None, "ServerID": 123456,
            "MessageStream": "broadcast", "ChangedAt": "2026-11-20T09:00:00.416071Z",
            "Recipient": ADDRESS, "Origin": origin, "SuppressSending": suppress,
            "SuppressionReason": reason, "Tag": None, "Metadata": {}}


def _postmark_post(client: Any, token: str | None, body: dict[str, Any]) -> Any:
    return client.post("/webhooks/email/postmark", json=body,
                       headers=_basic("postmark", token or ""))


def test_postmark_broadcast_spam_complaint_withdraws_email_consent(
    client: Any, container: Any
) -> None:
    token = add_source(container, "postmark", "postmark")
    subscribed(container, ADDRESS)
    answer = _postmark_post(client, token, _subscription_change("SpamComplaint"))
    assert answer.status_code == 200 and answer.json["applied"] == 1
    _assert_complained(container, "postmark")
    again = _postmark_post(client, token, _subscription_change("SpamComplaint"))
    assert again.json["duplicates"] == 1
    assert [e.kind for e in events(container)] == ["granted", "complained"]


def test_postmark_broadcast_hard_bounce_takes_the_address_off_the_register(
    client: Any, container: Any
) -> None:
    token = add_source(container, "postmark", "postmark")
    subscribed(container, ADDRESS)
    answer = _postmark_post(client, token, _subscription_change("HardBounce"))
    assert answer.status_code == 200 and answer.json["applied"] == 1
    _assert_hard_bounced(container)


def test_postmark_manual_suppression_withdraws_email_consent_with_postmark_as_source(
    client: Any, container: Any
) -> None:
    token = add_source(container, "postmark", "postmark")
    subscribed(container, ADDRESS)
    answer = _postmark_post(client, token, _subscription_change("ManualSuppression"))
    assert answer.status_code == 200 and answer.json["applied"] == 1
    assert states(container, ADDRESS) == {"email": "unsubscribed"}
    last = events(container)[-1]
    assert (last.kind, last.source, last.actor_type, last.actor_id) == (
        "withdrawn", "postmark", ActorType.PROVIDER, "postmark")
    person = contact(container, ADDRESS)
    assert person is not None and person.email_undeliverable_at is None
    assert not _on_register(container, ADDRESS)
    evidence = evidence_of(container, last.id)
    assert evidence is not None and "ManualSuppression by Recipient" in (evidence.note or "")


def test_postmark_reactivation_subscribes_no_one(client: Any, container: Any) -> None:
    token = add_source(container, "postmark", "postmark")
    subscribed(container, ADDRESS)
    _postmark_post(client, token, _subscription_change("ManualSuppression"))
    reactivated = _postmark_post(client, token,
                                 _subscription_change(None, suppress=False, origin="Customer"))
    assert reactivated.status_code == 200
    assert (reactivated.json["applied"], reactivated.json["ignored"]) == (0, 1)
    assert states(container, ADDRESS) == {"email": "unsubscribed"}
    assert [e.kind for e in events(container)] == ["granted", "withdrawn"]


# --- Mailgun -------------------------------------------------------------------------------

MAILGUN_KEY = "key-mailgun-signing-0123456789"


def _mailgun(container: Any, event: dict[str, Any], token: str = "tok-1",
             key: str = MAILGUN_KEY, event_id: str | None = None) -> dict[str, Any]:
    timestamp = str(int(container.clock.now().timestamp()))
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {"signature": {"timestamp": timestamp, "token": token, "signature": signature},
            "event-data": {"id": event_id or "evt-" + token, "recipient": ADDRESS, **event}}


def test_mailgun_permanent_failure_marks_the_address_undeliverable(
    client: Any, container: Any
) -> None:
    add_source(container, "mailgun", "mailgun", signing_secret=MAILGUN_KEY)
    subscribed(container, ADDRESS)
    body = _mailgun(container, {"event": "failed", "severity": "permanent"})
    assert client.post("/webhooks/email/mailgun", json=body).status_code == 200
    _assert_hard_bounced(container)
    # A replayed delivery (same token) changes nothing more.
    assert client.post("/webhooks/email/mailgun", json=body).json["duplicates"] == 1


def test_mailgun_complaint_and_temporary_failure(client: Any, container: Any) -> None:
    add_source(container, "mailgun", "mailgun", signing_secret=MAILGUN_KEY)
    subscribed(container, ADDRESS)
    client.post("/webhooks/email/mailgun",
                json=_mailgun(container, {"event": "failed", "severity": "temporary"}, "t1"))
    person = contact(container, ADDRESS)
    assert person is not None and person.soft_bounces == 1
    client.post("/webhooks/email/mailgun", json=_mailgun(container, {"event": "complained"}, "t2"))
    _assert_complained(container, "mailgun")


@pytest.mark.both_databases
def test_mailgun_a_re_signed_copy_of_an_event_is_applied_once(
    client: Any, container: Any
) -> None:
    add_source(container, "mailgun", "mailgun", signing_secret=MAILGUN_KEY)
    subscribed(container, ADDRESS)
    failed = {"event": "failed", "severity": "temporary"}
    first = _mailgun(container, failed, token="tok-a", event_id="Ase-7i2zsRYeDXztHGENqRA")
    assert client.post("/webhooks/email/mailgun", json=first).json["applied"] == 1
    # Mailgun retries with a new token and timestamp; the event keeps its id.
    container.clock.advance(minutes=5)
    retry = _mailgun(container, failed, token="tok-b", event_id="Ase-7i2zsRYeDXztHGENqRA")
    answer = client.post("/webhooks/email/mailgun", json=retry)
    assert answer.status_code == 200 and answer.json["duplicates"] == 1
    person = contact(container, ADDRESS)
    assert person is not None and person.soft_bounces == 1


@pytest.mark.both_databases
def test_mailgun_a_signature_token_is_accepted_once(client: Any, container: Any) -> None:
    add_source(container, "mailgun", "mailgun", signing_secret=MAILGUN_KEY)
    subscribed(container, ADDRESS)
    delivered = _mailgun(container, {"event": "delivered"}, token="tok-seen", event_id="e-1")
    client.post("/webhooks/email/mailgun", json=delivered)
    # The signature covers timestamp and token only: a captured one under another event.
    forged = {**delivered, "event-data": {"id": "e-2", "recipient": ADDRESS,
                                          "event": "complained"}}
    answer = client.post("/webhooks/email/mailgun", json=forged)
    assert answer.status_code == 200 and answer.json["applied"] == 0
    _unchanged(container)


def test_mailgun_bad_signature_changes_nothing(client: Any, container: Any) -> None:
    add_source(container, "mailgun", "mailgun", signing_secret=MAILGUN_KEY)
    subscribed(container, ADDRESS)
    forged = _mailgun(container, {"event": "complained"}, key="not-the-key")
    assert client.post("/webhooks/email/mailgun", json=forged).status_code == 401
    stale = _mailgun(container, {"event": "complained"})
    container.clock.advance(hours=1)
    assert client.post("/webhooks/email/mailgun", json=stale).status_code == 401
    _unchanged(container)


# --- SendGrid ------------------------------------------------------------------------------


@pytest.fixture
def sendgrid_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _sendgrid_public(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def _sendgrid_post(client: Any, key: ec.EllipticCurvePrivateKey, body: list[dict[str, Any]],
                   timestamp: str = "1763629200") -> Any:
    raw = json.dumps(body).encode()
    signature = key.sign(timestamp.encode() + raw, ec.ECDSA(hashes.SHA256()))
    return client.post("/webhooks/email/sendgrid", data=raw, content_type="application/json",
                       headers={"X-Twilio-Email-Event-Webhook-Signature":
                                base64.b64encode(signature).decode(),
                                "X-Twilio-Email-Event-Webhook-Timestamp": timestamp})


def test_sendgrid_signed_bounce_and_spamreport_change_state(
    client: Any, container: Any, sendgrid_key: ec.EllipticCurvePrivateKey
) -> None:
    add_source(container, "sendgrid", "sendgrid", signing_secret=_sendgrid_public(sendgrid_key))
    subscribed(container, ADDRESS)
    subscribed(container, "pekka@example.fi")
    body = [
        {"email": ADDRESS, "event": "bounce", "type": "bounce", "sg_event_id": "sg-1",
         "reason": "550 5.1.1 user unknown", "timestamp": 1763629200},
        {"email": "pekka@example.fi", "event": "spamreport", "sg_event_id": "sg-2"},
        {"email": "pekka@example.fi", "event": "delivered", "sg_event_id": "sg-3"},
    ]
    answer = _sendgrid_post(client, sendgrid_key, body)
    assert answer.status_code == 200 and answer.json["applied"] == 2
    _assert_hard_bounced(container)
    assert states(container, "pekka@example.fi") == {"email": "unsubscribed"}


def test_sendgrid_bad_signature_changes_nothing(
    client: Any, container: Any, sendgrid_key: ec.EllipticCurvePrivateKey
) -> None:
    add_source(container, "sendgrid", "sendgrid", signing_secret=_sendgrid_public(sendgrid_key))
    subscribed(container, ADDRESS)
    other = ec.generate_private_key(ec.SECP256R1())
    body = [{"email": ADDRESS, "event": "spamreport", "sg_event_id": "sg-9"}]
    assert _sendgrid_post(client, other, body).status_code == 401
    assert client.post("/webhooks/email/sendgrid", json=body).status_code == 401
    _unchanged(container)


# --- Brevo ---------------------------------------------------------------------------------


def test_brevo_hard_bounce_spam_and_soft_bounce(client: Any, container: Any) -> None:
    token = add_source(container, "brevo", "brevo")
    subscribed(container, ADDRESS)
    subscribed(container, "pekka@example.fi")
    headers = {"Authorization": f"Bearer {token}"}
    for body in (
        {"event": "soft_bounce", "email": ADDRESS, "message-id": "<m1@brevo>", "id": 1},
        {"event": "hard_bounce", "email": ADDRESS, "message-id": "<m2@brevo>", "id": 1},
        {"event": "spam", "email": "pekka@example.fi", "message-id": "<m3@brevo>", "id": 1},
    ):
        assert client.post("/webhooks/email/brevo", json=body, headers=headers).status_code == 200
    person = contact(container, ADDRESS)
    assert person is not None and person.soft_bounces == 1
    _assert_hard_bounced(container)
    assert states(container, "pekka@example.fi") == {"email": "unsubscribed"}


def test_brevo_without_the_token_changes_nothing(client: Any, container: Any) -> None:
    add_source(container, "brevo", "brevo")
    subscribed(container, ADDRESS)
    body = {"event": "spam", "email": ADDRESS, "message-id": "<m3@brevo>"}
    assert client.post("/webhooks/email/brevo", json=body,
                       headers={"Authorization": "Bearer nope"}).status_code == 401
    _unchanged(container)


# --- Amazon SES through SNS ----------------------------------------------------------------

TOPIC = "arn:aws:sns:eu-north-1:123456789012:ses-bounces"
CERT_URL = "https://sns.eu-north-1.amazonaws.com/SimpleNotificationService-test.pem"


class FakeAws:
    """SNS's signing key and certificate, issued by a CA the app is told to trust."""

    def __init__(self, now: datetime, name: str = "sns.amazonaws.com") -> None:
        self.now = now
        self.ca_key, self.ca = make_ca("Test Root CA", now)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.certificate = issue(self.ca_key, self.ca, self.key.public_key(), name,
                                 not_before=now - timedelta(days=1),
                                 not_after=now + timedelta(days=30))
        self.pem = pem_bundle(self.certificate)
        self.fetched: list[str] = []
        self.confirmed: list[str] = []

    def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        return self.pem

    def sign(self, message: dict[str, Any], key: Any = None) -> dict[str, Any]:
        message = {**message, "SignatureVersion": "2", "SigningCertURL":
                   message.get("SigningCertURL", CERT_URL)}
        signature = (key or self.key).sign(sns.string_to_sign(message), padding.PKCS1v15(),
                                           hashes.SHA256())
        return {**message, "Signature": base64.b64encode(signature).decode()}

    def notification(self, ses: dict[str, Any], message_id: str = "m-1") -> dict[str, Any]:
        return self.sign({"Type": "Notification", "MessageId": message_id, "TopicArn": TOPIC,
                          "Message": json.dumps(ses), "Timestamp": "2026-11-20T09:00:00.000Z"})


@pytest.fixture
def aws(app: Any, container: Any) -> FakeAws:
    fake = FakeAws(container.clock.now())
    adapters = app.extensions["consent.webhooks"]
    adapters.sns_cert_fetcher = fake.fetch
    adapters.sns_confirm = fake.confirmed.append
    adapters.sns_trust_roots = [fake.ca]
    return fake


def _sns_post(client: Any, message: dict[str, Any]) -> Any:
    # SNS posts JSON as text/plain.
    return client.post("/webhooks/email/ses", data=json.dumps(message),
                       content_type="text/plain; charset=UTF-8",
                       headers={"x-amz-sns-message-type": message["Type"]})


BOUNCE = {"notificationType": "Bounce", "bounce": {
    "bounceType": "Permanent", "bounceSubType": "General", "feedbackId": "fb-1",
    "bouncedRecipients": [{"emailAddress": ADDRESS, "status": "5.1.1"}]},
    "mail": {"messageId": "ses-1"}}
COMPLAINT = {"notificationType": "Complaint", "complaint": {
    "feedbackId": "fb-2", "complainedRecipients": [{"emailAddress": ADDRESS}]},
    "mail": {"messageId": "ses-2"}}


def test_ses_subscription_confirmation_is_verified_then_confirmed(
    client: Any, container: Any, aws: FakeAws
) -> None:
    add_source(container, "ses", "ses", topic_arns=(TOPIC,))
    subscribe_url = ("https://sns.eu-north-1.amazonaws.com/?Action=ConfirmSubscription"
                     f"&TopicArn={TOPIC}&Token=abc")
    message = aws.sign({"Type": "SubscriptionConfirmation", "MessageId": "c-1", "Token": "abc",
                        "TopicArn": TOPIC, "Message": "You have chosen to subscribe...",
                        "SubscribeURL": subscribe_url, "Timestamp": "2026-11-20T09:00:00.000Z"})
    assert _sns_post(client, message).status_code == 200
    assert aws.confirmed == [subscribe_url]
    assert aws.fetched == [CERT_URL]


def test_ses_permanent_bounce_and_complaint_change_state(
    client: Any, container: Any, aws: FakeAws
) -> None:
    add_source(container, "ses", "ses", topic_arns=(TOPIC,))
    subscribed(container, ADDRESS)
    assert _sns_post(client, aws.notification(COMPLAINT, "m-2")).json["applied"] == 1
    _assert_complained(container, "ses")
    assert _sns_post(client, aws.notification(BOUNCE, "m-1")).json["applied"] == 1
    _assert_hard_bounced(container)
    assert _sns_post(client, aws.notification(BOUNCE, "m-1")).json["duplicates"] == 1


def test_ses_transient_bounce_is_counted(client: Any, container: Any, aws: FakeAws) -> None:
    add_source(container, "ses", "ses", topic_arns=(TOPIC,))
    subscribed(container, ADDRESS)
    transient = {**BOUNCE, "bounce": {**BOUNCE["bounce"], "bounceType": "Transient"}}
    _sns_post(client, aws.notification(transient))
    person = contact(container, ADDRESS)
    assert person is not None and person.soft_bounces == 1


def test_ses_bad_signature_other_topic_or_foreign_cert_url_change_nothing(
    client: Any, container: Any, aws: FakeAws
) -> None:
    add_source(container, "ses", "ses", topic_arns=(TOPIC,))
    subscribed(container, ADDRESS)
    forged = aws.notification(COMPLAINT)
    forged["Message"] = forged["Message"].replace("fb-2", "fb-3")
    assert _sns_post(client, forged).status_code == 401
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert _sns_post(client, aws.sign({"Type": "Notification", "MessageId": "m-9",
                                       "TopicArn": TOPIC, "Message": json.dumps(COMPLAINT),
                                       "Timestamp": "2026-11-20T09:00:00.000Z"},
                                      other_key)).status_code == 401
    other_topic = aws.sign({"Type": "Notification", "MessageId": "m-8",
                            "TopicArn": "arn:aws:sns:eu-north-1:999999999999:evil",
                            "Message": json.dumps(COMPLAINT),
                            "Timestamp": "2026-11-20T09:00:00.000Z"})
    assert _sns_post(client, other_topic).status_code == 401
    fetched_before = list(aws.fetched)
    for url in ("https://sns.eu-north-1.amazonaws.com.evil.example/cert.pem",
                "http://sns.eu-north-1.amazonaws.com/cert.pem",
                "https://127.0.0.1/cert.pem"):
        foreign = aws.sign({"Type": "Notification", "MessageId": "m-7", "TopicArn": TOPIC,
                            "Message": json.dumps(COMPLAINT), "SigningCertURL": url,
                            "Timestamp": "2026-11-20T09:00:00.000Z"})
        assert _sns_post(client, foreign).status_code == 401
    assert aws.fetched == fetched_before  # a foreign certificate URL is never fetched
    _unchanged(container)


def test_production_cert_fetcher_refuses_anything_but_sns_over_https() -> None:
    fetcher = sns.CachedCertFetcher()
    for url in ("http://sns.eu-north-1.amazonaws.com/x.pem", "https://example.com/x.pem",
                "https://sns.eu-north-1.amazonaws.com:8443/x.pem"):
        with pytest.raises(sns.SnsMessageRefused):
            fetcher(url)


def _sns_refused(client: Any, container: Any, aws: FakeAws, reason: str,
                 caplog: pytest.LogCaptureFixture) -> None:
    add_source(container, "ses", "ses", topic_arns=(TOPIC,))
    subscribed(container, ADDRESS)
    with caplog.at_level(logging.WARNING, logger="consent.webhooks"):
        assert _sns_post(client, aws.notification(COMPLAINT)).status_code == 401
    assert reason in caplog.text
    _unchanged(container)


def test_ses_signing_certificate_must_chain_to_a_trusted_root(
    client: Any, container: Any, aws: FakeAws, caplog: pytest.LogCaptureFixture
) -> None:
    # Self-signed with the right name and key: what anyone can make.
    name = dn("sns.amazonaws.com")
    now = container.clock.now()
    aws.pem = pem_bundle(
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(aws.key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("sns.amazonaws.com")]),
                       critical=False)
        .sign(aws.key, hashes.SHA256())
    )
    _sns_refused(client, container, aws, "does not chain to a trusted root", caplog)


@pytest.mark.parametrize("name", ["mail.example.com", "sns.amazonaws.com.evil.example"])
def test_ses_signing_certificate_must_be_issued_for_sns(
    client: Any, container: Any, aws: FakeAws, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    now = container.clock.now()
    aws.pem = pem_bundle(issue(aws.ca_key, aws.ca, aws.key.public_key(), name,
                         not_before=now - timedelta(days=1), not_after=now + timedelta(days=30)))
    _sns_refused(client, container, aws, "not issued for SNS", caplog)


def test_ses_signing_certificate_must_be_within_its_validity_period(
    client: Any, container: Any, aws: FakeAws, caplog: pytest.LogCaptureFixture
) -> None:
    container.clock.advance(days=31)
    _sns_refused(client, container, aws, "outside its validity period", caplog)


def test_ses_regional_signing_certificate_names_are_accepted(
    client: Any, container: Any, aws: FakeAws
) -> None:
    now = container.clock.now()
    aws.pem = pem_bundle(issue(aws.ca_key, aws.ca, aws.key.public_key(),
                               "sns.eu-north-1.amazonaws.com", not_before=now - timedelta(days=1),
                               not_after=now + timedelta(days=30)))
    add_source(container, "ses", "ses", topic_arns=(TOPIC,))
    subscribed(container, ADDRESS)
    assert _sns_post(client, aws.notification(COMPLAINT)).json["applied"] == 1


class FakeAwsNetwork:
    """AWS as seen through an HTTP proxy on loopback: HTTPS to sns.*, plain HTTP to the CA.

    The production fetcher talks to it with a requests session routed through the proxy and
    trusting the proxy's own web CA, so TLS, status codes and the AIA issuer fetch are real.
    """

    def __init__(self, now: datetime) -> None:
        import ssl
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.files: dict[tuple[str, str], bytes] = {}
        self.requests: list[str] = []
        web_key, web_ca = make_ca("Test Web CA", now)
        self.web_ca_pem = pem_bundle(web_ca)
        contexts: dict[str, ssl.SSLContext] = {}
        network = self

        def context_for(host: str, directory: Any) -> ssl.SSLContext:
            if host not in contexts:
                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                cert = issue(web_key, web_ca, key.public_key(), host,
                             not_before=now - timedelta(days=1),
                             not_after=now + timedelta(days=30))
                cert_path, key_path = directory / f"{host}.pem", directory / f"{host}.key"
                cert_path.write_bytes(pem_bundle(cert))
                key_path.write_bytes(key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption()))
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(cert_path, key_path)
                contexts[host] = context
            return contexts[host]

        class Proxy(BaseHTTPRequestHandler):
            def _answer(self, write: Any, host: str, path: str) -> None:
                network.requests.append(f"{host}{path}")
                body = network.files.get((host, path))
                status = b"200 OK" if body is not None else b"404 Not Found"
                body = body if body is not None else b""
                write(b"HTTP/1.1 " + status + b"\r\nContent-Length: "
                      + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)

            def do_CONNECT(self) -> None:  # HTTPS: TLS for the host asked for
                host = self.path.rsplit(":", 1)[0]
                self.send_response(200, "Connection established")
                self.end_headers()
                tls = context_for(host, network.directory).wrap_socket(
                    self.connection, server_side=True)
                reader = tls.makefile("rb")
                path = reader.readline().split()[1].decode()
                while reader.readline() not in (b"\r\n", b"\n", b""):
                    pass
                self._answer(tls.sendall, host, path)
                tls.close()
                self.close_connection = True

            def do_GET(self) -> None:  # plain HTTP through a proxy: an absolute URL
                from urllib.parse import urlsplit

                parts = urlsplit(self.path)
                self._answer(self.wfile.write, parts.hostname or "", parts.path)
                self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # A short poll lets shutdown() return at once rather than after 0.5 s.
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01},
                         daemon=True).start()

    def session(self, directory: Any) -> requests.Session:
        """A session that reaches this fake AWS (and nothing else) and trusts its web CA."""
        self.directory = directory
        bundle = directory / "web-ca.pem"
        bundle.write_bytes(self.web_ca_pem)
        return _proxied_session(self.url, verify=str(bundle))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _proxied_session(proxy: str, verify: str | bool = True) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.proxies = {"http": proxy, "https": proxy}
    session.verify = verify
    return session


@pytest.fixture
def aws_network(container: Any) -> Iterator[FakeAwsNetwork]:
    network = FakeAwsNetwork(container.clock.now())
    yield network
    network.stop()


def test_production_fetcher_completes_the_chain_from_the_certificates_issuer_address(
    app: Any, client: Any, container: Any, aws_network: FakeAwsNetwork, tmp_path: Any
) -> None:
    now = container.clock.now()
    root_key, root = make_ca("Test Amazon Root CA", now)
    intermediate_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    intermediate = (
        x509.CertificateBuilder().subject_name(dn("Test Amazon RSA 2048 M01"))
        .issuer_name(root.subject).public_key(intermediate_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=30)).not_valid_after(now + timedelta(days=300))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(intermediate_key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                       critical=False)
        .sign(root_key, hashes.SHA256())
    )
    aws = FakeAws(now)
    leaf = issue(intermediate_key, intermediate, aws.key.public_key(), "sns.amazonaws.com",
                 not_before=now - timedelta(days=1), not_after=now + timedelta(days=30),
                 issuer_url="http://crt.r2m01.amazontrust.com/r2m01.cer")
    # SNS serves the certificate alone; the intermediate is where the certificate says.
    aws_network.files[("sns.eu-north-1.amazonaws.com", "/SimpleNotificationService-test.pem")] \
        = pem_bundle(leaf)
    aws_network.files[("crt.r2m01.amazontrust.com", "/r2m01.cer")] = intermediate.public_bytes(
        serialization.Encoding.DER)
    adapters = app.extensions["consent.webhooks"]
    adapters.sns_cert_fetcher = sns.CachedCertFetcher(timeout=5,
                                                      session=aws_network.session(tmp_path))
    adapters.sns_trust_roots = [root]
    add_source(container, "ses", "ses", topic_arns=(TOPIC,))
    subscribed(container, ADDRESS)
    assert _sns_post(client, aws.notification(COMPLAINT, "m-1")).json["applied"] == 1
    assert _sns_post(client, aws.notification(BOUNCE, "m-2")).json["applied"] == 1
    assert aws_network.requests == [  # then kept: the second message fetches nothing
        "sns.eu-north-1.amazonaws.com/SimpleNotificationService-test.pem",
        "crt.r2m01.amazontrust.com/r2m01.cer",
    ]
    _assert_hard_bounced(container)


@pytest.fixture
def unreachable_proxy() -> Iterator[dict[str, str]]:
    """Two ways AWS is out of reach: nothing listens, or a listener that never answers."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{closed.getsockname()[1]}"
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    yield {"refused": refused, "silent": f"http://127.0.0.1:{silent.getsockname()[1]}"}
    silent.close()


def _one_warning_without_traceback(caplog: pytest.LogCaptureFixture) -> str:
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1, [r.getMessage() for r in problems]
    assert problems[0].exc_info is None
    return problems[0].getMessage()


@pytest.mark.parametrize("trouble", ["refused", "silent"])
def test_ses_certificate_out_of_reach_answers_503_for_sns_to_retry(
    app: Any, client: Any, container: Any, aws: FakeAws, caplog: pytest.LogCaptureFixture,
    unreachable_proxy: dict[str, str], trouble: str,
) -> None:
    session = _proxied_session(unreachable_proxy[trouble])
    app.extensions["consent.webhooks"].sns_cert_fetcher = sns.CachedCertFetcher(
        timeout=0.5, session=session)
    add_source(container, "ses", "ses", topic_arns=(TOPIC,))
    subscribed(container, ADDRESS)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        answer = _sns_post(client, aws.notification(COMPLAINT))
    assert answer.status_code == 503
    line = _one_warning_without_traceback(caplog)
    assert "cannot fetch the SNS signing certificate from sns.eu-north-1.amazonaws.com" in line
    assert "SNS will retry" in line and "amazonaws.com" in line.rsplit(";", 1)[-1]
    assert ("0.5 s" in line) if trouble == "silent" else ("could not connect" in line)
    _unchanged(container)


def test_ses_subscription_confirmation_out_of_reach_answers_503_for_sns_to_retry(
    app: Any, client: Any, container: Any, aws: FakeAws, caplog: pytest.LogCaptureFixture,
    unreachable_proxy: dict[str, str],
) -> None:
    app.extensions["consent.webhooks"].sns_confirm = functools.partial(
        sns.confirm_subscription_with_requests, timeout=0.5,
        session=_proxied_session(unreachable_proxy["refused"]))
    add_source(container, "ses", "ses", topic_arns=(TOPIC,))
    message = aws.sign({"Type": "SubscriptionConfirmation", "MessageId": "c-1", "Token": "abc",
                        "TopicArn": TOPIC, "Message": "You have chosen to subscribe...",
                        "SubscribeURL": "https://sns.eu-north-1.amazonaws.com/?Action="
                                        "ConfirmSubscription&Token=abc",
                        "Timestamp": "2026-11-20T09:00:00.000Z"})
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert _sns_post(client, message).status_code == 503
    line = _one_warning_without_traceback(caplog)
    assert "cannot confirm the SNS subscription at sns.eu-north-1.amazonaws.com" in line
    assert "SNS will retry" in line


def test_unconfigured_provider_answers_404(client: Any) -> None:
    assert client.post("/webhooks/email/postmark", json={}).status_code == 404
    assert client.post("/webhooks/email/nosuch", json={}).status_code == 404


def test_a_bounced_address_opting_in_again_returns_to_the_register(
    client: Any, container: Any
) -> None:
    token = add_source(container, "postmark", "postmark")
    form_token = add_source(container, "site", "generic", double_opt_in=False)
    subscribed(container, ADDRESS)
    client.post("/webhooks/email/postmark", headers={"X-Consent-Secret": token},
                json={"RecordType": "Bounce", "Type": "HardBounce", "ID": 1, "Email": ADDRESS})
    assert not _on_register(container, ADDRESS)
    answer = client.post("/webhooks/forms/site", headers={"X-Consent-Secret": form_token},
                         json={"email": ADDRESS, "consent": "on"})
    assert answer.json == {"status": "subscribed"}
    assert _on_register(container, ADDRESS)


# --- Unsubscribes the provider handled, and messages it dropped ----------------------------


def _assert_withdrawn_at_the_provider(container: Any, email: str, provider: str) -> None:
    assert states(container, email) == {"email": "unsubscribed"}
    person = contact(container, email)
    assert person is not None
    last = [e for e in events(container) if e.contact_id == person.id][-1]
    assert (last.kind, last.method, last.source) == ("withdrawn", "provider_unsubscribe",
                                                    provider)


def test_an_unsubscribe_through_the_providers_own_link_withdraws_email_consent(
    client: Any, container: Any, sendgrid_key: ec.EllipticCurvePrivateKey
) -> None:
    brevo = add_source(container, "brevo", "brevo")
    add_source(container, "sendgrid", "sendgrid", signing_secret=_sendgrid_public(sendgrid_key))
    add_source(container, "mailgun", "mailgun", signing_secret=MAILGUN_KEY)
    for person in ("anna@example.fi", "bertil@example.se", "cecilia@example.fi"):
        subscribed(container, person)
    client.post("/webhooks/email/brevo", headers={"Authorization": f"Bearer {brevo}"},
                json={"event": "unsubscribed", "email": "anna@example.fi",
                      "message-id": "<m9@brevo>"})
    _sendgrid_post(client, sendgrid_key, [{"email": "bertil@example.se",
                                           "event": "group_unsubscribe", "sg_event_id": "u1"}])
    mailgun = _mailgun(container, {"event": "unsubscribed"}, token="tok-u")
    mailgun["event-data"]["recipient"] = "cecilia@example.fi"
    client.post("/webhooks/email/mailgun", json=mailgun)
    _assert_withdrawn_at_the_provider(container, "anna@example.fi", "brevo")
    _assert_withdrawn_at_the_provider(container, "bertil@example.se", "sendgrid")
    _assert_withdrawn_at_the_provider(container, "cecilia@example.fi", "mailgun")


def test_sendgrid_dropping_mail_to_a_listed_address_counts_as_what_listed_it(
    client: Any, container: Any, sendgrid_key: ec.EllipticCurvePrivateKey
) -> None:
    add_source(container, "sendgrid", "sendgrid", signing_secret=_sendgrid_public(sendgrid_key))
    subscribed(container, ADDRESS)
    subscribed(container, "pekka@example.fi")
    answer = _sendgrid_post(client, sendgrid_key, [
        {"email": ADDRESS, "event": "dropped", "reason": "Bounced Address", "sg_event_id": "d1"},
        {"email": "pekka@example.fi", "event": "dropped", "reason": "Spam Reporting Address",
         "sg_event_id": "d2"}])
    assert answer.status_code == 200 and answer.json["applied"] == 2
    _assert_hard_bounced(container)
    assert states(container, "pekka@example.fi") == {"email": "unsubscribed"}

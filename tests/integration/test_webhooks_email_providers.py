"""Email providers' bounce and complaint webhooks: each sample changes state as it should."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from service.domain import register
from service.domain.models import Method
from tests.webhook_support import add_source, contact, events, states, subscribed
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


# --- Mailgun -------------------------------------------------------------------------------

MAILGUN_KEY = "key-mailgun-signing-0123456789"


def _mailgun(container: Any, event: dict[str, Any], token: str = "tok-1",
             key: str = MAILGUN_KEY) -> dict[str, Any]:
    timestamp = str(int(container.clock.now().timestamp()))
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {"signature": {"timestamp": timestamp, "token": token, "signature": signature},
            "event-data": {"id": "evt-" + token, "recipient": ADDRESS, **event}}


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
    """A signing key and certificate like SNS's, served by an injected fetcher."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(UTC)
        self.pem = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .sign(self.key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
        )
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
def aws(app: Any) -> FakeAws:
    fake = FakeAws()
    adapters = app.extensions["consent.webhooks"]
    adapters.sns_cert_fetcher = fake.fetch
    adapters.sns_confirm = fake.confirmed.append
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

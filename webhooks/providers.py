"""Email providers' bounce and complaint events: authenticate, then translate to ours."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from service.domain.deliverability import Outcome, ProviderEvent
from service.domain.inbound import body_key
from webhooks import sns

log = logging.getLogger("consent.webhooks")

MAILGUN_TOLERANCE_SECONDS = 15 * 60
SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


class NotAuthentic(Exception):
    """The delivery's signature or credentials do not check out."""


def _items(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return [i for i in body if isinstance(i, dict)]
    return [body] if isinstance(body, dict) else []


# --- Postmark ---------------------------------------------------------------------------------

POSTMARK_HARD = ("HardBounce", "BadEmailAddress", "ManuallyDeactivated", "Blocked")
POSTMARK_SOFT = ("SoftBounce", "Transient", "DnsError", "MailboxFull", "AutoResponder")


def postmark_events(body: Any) -> list[ProviderEvent]:
    """Translate Postmark's Bounce and SpamComplaint webhooks."""
    events = []
    for item in _items(body):
        record, email = item.get("RecordType"), item.get("Email")
        if not isinstance(email, str):
            continue
        event_id = f"{record}:{item.get('ID')}"
        if record == "SpamComplaint":
            outcome = Outcome.COMPLAINT
        elif record == "Bounce" and item.get("Type") in POSTMARK_HARD:
            outcome = Outcome.HARD_BOUNCE
        elif record == "Bounce" and item.get("Type") in POSTMARK_SOFT:
            outcome = Outcome.SOFT_BOUNCE
        else:
            outcome = Outcome.OTHER
        events.append(ProviderEvent(event_id, outcome, email, str(item.get("Type") or record)))
    return events


# --- Mailgun ----------------------------------------------------------------------------------


def mailgun_verify(signing_key: str, body: Any, *, now: int) -> None:
    """Check hex HMAC-SHA256(signing key, timestamp + token) and that the time is recent."""
    signature = body.get("signature") if isinstance(body, dict) else None
    if not isinstance(signature, dict):
        raise NotAuthentic("no signature")
    timestamp, token = str(signature.get("timestamp", "")), str(signature.get("token", ""))
    given = str(signature.get("signature", ""))
    if not timestamp.isdigit() or abs(now - int(timestamp)) > MAILGUN_TOLERANCE_SECONDS:
        raise NotAuthentic("stale or missing timestamp")
    expected = hmac.new(signing_key.encode("utf-8"), (timestamp + token).encode("utf-8"),
                        hashlib.sha256).hexdigest()
    if not token or not hmac.compare_digest(expected, given.lower()):
        raise NotAuthentic("signature does not match")


def mailgun_events(body: Any) -> list[ProviderEvent]:
    """Translate Mailgun's failed (permanent/temporary) and complained events.

    The event is known by its signature token: Mailgun never reuses one, so remembering it
    both de-duplicates and refuses a replayed delivery.
    """
    data = body.get("event-data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("recipient"), str):
        return []
    token = str(body.get("signature", {}).get("token", ""))
    event = data.get("event")
    if event == "complained":
        outcome = Outcome.COMPLAINT
    elif event == "failed" and data.get("severity") == "permanent":
        outcome = Outcome.HARD_BOUNCE
    elif event == "failed":
        outcome = Outcome.SOFT_BOUNCE
    else:
        outcome = Outcome.OTHER
    return [ProviderEvent(f"token:{token}", outcome, data["recipient"], str(event))]


# --- SendGrid ---------------------------------------------------------------------------------


def _sendgrid_key(public_key: str) -> ec.EllipticCurvePublicKey:
    text = public_key.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode("ascii"))
    else:
        key = serialization.load_der_public_key(base64.b64decode(text))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise NotAuthentic("the configured SendGrid key is not an ECDSA public key")
    return key


def sendgrid_verify(public_key: str, headers: Mapping[str, str], raw: bytes) -> None:
    """Check SendGrid's ECDSA signature over timestamp + raw body (SHA-256)."""
    signature = headers.get(SENDGRID_SIGNATURE)
    timestamp = headers.get(SENDGRID_TIMESTAMP)
    if not signature or not timestamp:
        raise NotAuthentic("no signature")
    try:
        _sendgrid_key(public_key).verify(base64.b64decode(signature),
                                         timestamp.encode("utf-8") + raw,
                                         ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise NotAuthentic("signature does not match") from None


def sendgrid_events(body: Any) -> list[ProviderEvent]:
    """Translate SendGrid's bounce (blocked counts as soft) and spamreport events."""
    events = []
    for item in _items(body):
        email, event = item.get("email"), item.get("event")
        if not isinstance(email, str):
            continue
        if event == "spamreport":
            outcome = Outcome.COMPLAINT
        elif event == "bounce" and item.get("type") == "blocked":
            outcome = Outcome.SOFT_BOUNCE
        elif event == "bounce":
            outcome = Outcome.HARD_BOUNCE
        else:
            outcome = Outcome.OTHER
        event_id = str(item.get("sg_event_id") or body_key(json.dumps(item, sort_keys=True)
                                                           .encode()))
        events.append(ProviderEvent(event_id, outcome, email, str(event)))
    return events


# --- Brevo --------------------------------------------------------------------------------------


def brevo_events(body: Any) -> list[ProviderEvent]:
    """Translate Brevo's hard_bounce, soft_bounce and spam (complaint) events."""
    outcomes = {"hard_bounce": Outcome.HARD_BOUNCE, "soft_bounce": Outcome.SOFT_BOUNCE,
                "spam": Outcome.COMPLAINT, "complaint": Outcome.COMPLAINT,
                "invalid_email": Outcome.HARD_BOUNCE}
    events = []
    for item in _items(body):
        email, event = item.get("email"), str(item.get("event"))
        if not isinstance(email, str):
            continue
        message = item.get("message-id") or item.get("message_id")
        event_id = f"{event}:{message}:{email.lower()}" if message else body_key(
            json.dumps(item, sort_keys=True).encode())
        events.append(ProviderEvent(event_id, outcomes.get(event, Outcome.OTHER), email, event))
    return events


# --- Amazon SES through SNS --------------------------------------------------------------------


@dataclass(frozen=True)
class SnsOutcome:
    """What an SNS delivery was: events to apply, or a subscription confirmed or ignored."""

    kind: str
    events: list[ProviderEvent] = field(default_factory=list)


def ses_events(message_id: str, message: Any) -> list[ProviderEvent]:
    """Translate an SES notification (or event publishing record) inside an SNS message."""
    if not isinstance(message, dict):
        return []
    kind = message.get("notificationType") or message.get("eventType")
    events = []
    if kind == "Bounce":
        bounce = message.get("bounce") or {}
        outcome = Outcome.HARD_BOUNCE if bounce.get("bounceType") == "Permanent" \
            else Outcome.SOFT_BOUNCE
        for recipient in bounce.get("bouncedRecipients") or []:
            email = recipient.get("emailAddress") if isinstance(recipient, dict) else None
            if isinstance(email, str):
                events.append(ProviderEvent(f"{message_id}:{email.lower()}", outcome, email,
                                            str(bounce.get("bounceType"))))
    elif kind == "Complaint":
        complaint = message.get("complaint") or {}
        for recipient in complaint.get("complainedRecipients") or []:
            email = recipient.get("emailAddress") if isinstance(recipient, dict) else None
            if isinstance(email, str):
                events.append(ProviderEvent(f"{message_id}:{email.lower()}", Outcome.COMPLAINT,
                                            email, "Complaint"))
    return events


def handle_sns(
    envelope: Any, *, topic_arns: tuple[str, ...], fetch_cert: sns.CertFetcher,
    confirm: Callable[[str], None],
) -> SnsOutcome:
    """Verify an SNS delivery, confirm a subscription to our topic, translate a notification."""
    if not isinstance(envelope, dict):
        raise NotAuthentic("not an SNS message")
    try:
        sns.verify(envelope, fetch_cert)
    except sns.SnsMessageRefused as exc:
        raise NotAuthentic(str(exc)) from None
    if envelope.get("TopicArn") not in topic_arns:
        raise NotAuthentic("not a topic this source accepts")
    kind = envelope.get("Type")
    if kind == "SubscriptionConfirmation":
        try:
            confirm(sns.check_sns_url(str(envelope.get("SubscribeURL", ""))))
        except sns.SnsMessageRefused as exc:
            raise NotAuthentic(str(exc)) from None
        log.info("SNS subscription to %s confirmed", envelope.get("TopicArn"))
        return SnsOutcome("subscription_confirmed")
    if kind != "Notification":
        return SnsOutcome("ignored")
    try:
        message = json.loads(str(envelope.get("Message", "")))
    except ValueError:
        return SnsOutcome("ignored")
    return SnsOutcome("notification", ses_events(str(envelope.get("MessageId")), message))

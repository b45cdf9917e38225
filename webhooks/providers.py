"""Email providers' bounce and complaint events: authenticate, then translate to ours."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
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


class ProviderUnavailable(Exception):
    """The delivery cannot be checked now (the provider's servers are out of reach): retry."""


def _items(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return [i for i in body if isinstance(i, dict)]
    return [body] if isinstance(body, dict) else []


# --- Postmark ---------------------------------------------------------------------------------

POSTMARK_HARD = ("HardBounce", "BadEmailAddress", "ManuallyDeactivated", "Blocked")
POSTMARK_SOFT = ("SoftBounce", "Transient", "DnsError", "MailboxFull", "AutoResponder")


# A SubscriptionChange is the only way a Broadcast stream reports a spam complaint or a hard
# bounce; ManualSuppression is an unsubscribe through Postmark's own link, or staff suppressing
# the address in Postmark (Origin: Recipient, Customer or Admin).
POSTMARK_SUPPRESSIONS = {"HardBounce": Outcome.HARD_BOUNCE, "SpamComplaint": Outcome.COMPLAINT,
                         "ManualSuppression": Outcome.UNSUBSCRIBE}


def _postmark_subscription_change(item: dict[str, Any]) -> ProviderEvent | None:
    """Translate a SubscriptionChange; a reactivation (SuppressSending false) changes nothing."""
    email = item.get("Recipient")
    if not isinstance(email, str):
        return None
    reason = item.get("SuppressionReason")
    suppress = item.get("SuppressSending") is True
    outcome = POSTMARK_SUPPRESSIONS.get(str(reason), Outcome.OTHER) if suppress \
        else Outcome.OTHER
    # No id of its own (MessageID is null for manual suppressions and reactivations): the change
    # is known by what changed, for whom and when; hashed, so no address is kept in the key.
    what = [email.lower(), item.get("MessageStream"), item.get("ChangedAt"), reason, suppress]
    event_id = "SubscriptionChange:" + body_key(json.dumps(what).encode())
    detail = f"{reason} by {item.get('Origin')}" if suppress else "reactivated"
    return ProviderEvent(event_id, outcome, email, detail)


def postmark_events(body: Any) -> list[ProviderEvent]:
    """Translate Postmark's Bounce, SpamComplaint and SubscriptionChange webhooks."""
    events = []
    for item in _items(body):
        if item.get("RecordType") == "SubscriptionChange":
            change = _postmark_subscription_change(item)
            if change is not None:
                events.append(change)
            continue
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


def mailgun_replay_key(body: Any) -> str:
    """Return the delivery's one-time key: its signature token, never reused by Mailgun.

    The signature covers timestamp and token, not the event, so a token seen before is refused
    whatever event comes with it.
    """
    signature = body.get("signature") if isinstance(body, dict) else None
    token = signature.get("token", "") if isinstance(signature, dict) else ""
    return f"token:{token}"


def mailgun_events(body: Any) -> list[ProviderEvent]:
    """Translate Mailgun's failed (permanent/temporary), complained and unsubscribed events.

    The event is known by event-data.id: a retry is signed anew (new token and timestamp) but
    carries the same event id.
    """
    data = body.get("event-data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("recipient"), str):
        return []
    event_id = data.get("id")
    key = f"event:{event_id}" if isinstance(event_id, str) and event_id \
        else "event:" + body_key(json.dumps(data, sort_keys=True).encode())
    event = data.get("event")
    if event == "complained":
        outcome = Outcome.COMPLAINT
    elif event == "unsubscribed":
        outcome = Outcome.UNSUBSCRIBE
    elif event == "failed" and data.get("severity") == "permanent":
        outcome = Outcome.HARD_BOUNCE
    elif event == "failed":
        outcome = Outcome.SOFT_BOUNCE
    else:
        outcome = Outcome.OTHER
    return [ProviderEvent(key, outcome, data["recipient"], str(event))]


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


# A dropped message says why SendGrid would not send it: the address is on one of its lists.
SENDGRID_DROP_REASONS = {
    "bounced address": Outcome.HARD_BOUNCE,
    "invalid": Outcome.HARD_BOUNCE,
    "spam reporting address": Outcome.COMPLAINT,
    "unsubscribed address": Outcome.UNSUBSCRIBE,
}


def _sendgrid_outcome(event: str, item: dict[str, Any]) -> Outcome:
    if event == "spamreport":
        return Outcome.COMPLAINT
    if event == "bounce":
        return Outcome.SOFT_BOUNCE if item.get("type") == "blocked" else Outcome.HARD_BOUNCE
    if event == "dropped":
        return SENDGRID_DROP_REASONS.get(str(item.get("reason", "")).strip().lower(),
                                         Outcome.OTHER)
    if event in ("unsubscribe", "group_unsubscribe"):
        return Outcome.UNSUBSCRIBE
    return Outcome.OTHER


def sendgrid_events(body: Any) -> list[ProviderEvent]:
    """Translate SendGrid's bounce (blocked counts as soft), spamreport, unsubscribe and dropped
    events (dropped for a bounced, complaining or unsubscribed address counts as that)."""
    events = []
    for item in _items(body):
        email, event = item.get("email"), item.get("event")
        if not isinstance(email, str):
            continue
        outcome = _sendgrid_outcome(str(event), item)
        event_id = str(item.get("sg_event_id") or body_key(json.dumps(item, sort_keys=True)
                                                           .encode()))
        events.append(ProviderEvent(event_id, outcome, email, str(event)))
    return events


# --- Brevo --------------------------------------------------------------------------------------


def brevo_events(body: Any) -> list[ProviderEvent]:
    """Translate Brevo's hard_bounce, soft_bounce, spam (complaint) and unsubscribed events."""
    outcomes = {"hard_bounce": Outcome.HARD_BOUNCE, "soft_bounce": Outcome.SOFT_BOUNCE,
                "spam": Outcome.COMPLAINT, "complaint": Outcome.COMPLAINT,
                "invalid_email": Outcome.HARD_BOUNCE, "unsubscribed": Outcome.UNSUBSCRIBE}
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
    confirm: Callable[[str], None], now: datetime, trust_roots: sns.TrustRoots | None = None,
) -> SnsOutcome:
    """Verify an SNS delivery, confirm a subscription to our topic, translate a notification.

    Raises NotAuthentic for a message that is not SNS's for us, ProviderUnavailable when AWS
    cannot be reached to tell (SNS delivers it again).
    """
    if not isinstance(envelope, dict):
        raise NotAuthentic("not an SNS message")
    # The topic is checked first: no certificate is fetched for a topic we do not accept.
    if envelope.get("TopicArn") not in topic_arns:
        raise NotAuthentic("not a topic this source accepts")
    try:
        sns.verify(envelope, fetch_cert, now=now, trust_roots=trust_roots)
    except sns.SnsMessageRefused as exc:
        raise NotAuthentic(str(exc)) from None
    except sns.SnsUnavailable as exc:
        raise ProviderUnavailable(str(exc)) from None
    kind = envelope.get("Type")
    if kind == "SubscriptionConfirmation":
        try:
            confirm(sns.check_sns_url(str(envelope.get("SubscribeURL", ""))))
        except sns.SnsMessageRefused as exc:
            raise NotAuthentic(str(exc)) from None
        except sns.SnsUnavailable as exc:
            raise ProviderUnavailable(str(exc)) from None
        log.info("SNS subscription to %s confirmed", envelope.get("TopicArn"))
        return SnsOutcome("subscription_confirmed")
    if kind != "Notification":
        return SnsOutcome("ignored")
    try:
        message = json.loads(str(envelope.get("Message", "")))
    except ValueError:
        return SnsOutcome("ignored")
    return SnsOutcome("notification", ses_events(str(envelope.get("MessageId")), message))

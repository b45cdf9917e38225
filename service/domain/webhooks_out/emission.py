"""What each outbound event says, queued in the transaction of the change as ONE outbox item.

The body (documented in the README) names the contact by its public id only; an endpoint
registered with include_personal_data also gets the address, name and phone, added when the
worker fans the item out (fan_out) and never once the contact is erased. The request pays one
INSERT whatever the endpoints: which of them want an event is the worker's question.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain import outbox
from service.domain.domain_events import (
    ConsentChanged,
    ContactCorrected,
    ContactErased,
    DomainEvent,
)
from service.domain.models import EventKind, OutboxItem, OutboxStatus, WebhookDelivery

# One outbox item per transaction, carrying every webhook event that transaction made.
WEBHOOK_EVENT_KIND = "webhook.event"
EVENT_TYPES = (
    "consent.requested", "consent.confirmed", "consent.granted", "consent.withdrawn",
    "address.bounced", "contact.updated", "contact.erased",
)
TYPE_OF_KIND = {
    EventKind.REQUESTED.value: "consent.requested",
    EventKind.CONFIRMED.value: "consent.confirmed",
    EventKind.GRANTED.value: "consent.granted",
    EventKind.WITHDRAWN.value: "consent.withdrawn",
    # A spam complaint withdraws consent; data.kind says it was a complaint.
    EventKind.COMPLAINED.value: "consent.withdrawn",
    EventKind.BOUNCED.value: "address.bounced",
}
PERSONAL_FIELDS = ("email", "name", "phone")


def iso(moment: datetime) -> str:
    """Return a time as the bodies carry it: UTC, microseconds, a Z."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _event(event_type: str, contact_public_id: str, moment: datetime, data: dict[str, Any],
           *, personal: bool = True) -> dict[str, Any]:
    # The data stays serialised: the outbox sorts keys, and bodies keep today's key order.
    # personal: whether an endpoint allowed personal data gets the contact's details with it.
    return {"type": event_type, "contact_id": contact_public_id, "timestamp": iso(moment),
            "data": json.dumps(data, ensure_ascii=False, separators=(",", ":")),
            "personal": personal}


def _consent_changed(change: ConsentChanged) -> dict[str, Any] | None:
    event_type = TYPE_OF_KIND.get(change.kind)
    if event_type is None:
        return None
    data: dict[str, Any] = {
        "contact_id": change.contact_public_id, "channel": change.channel, "kind": change.kind,
        "method": change.method, "source": change.source,
        "notice_version": change.notice_version, "occurred_at": iso(change.occurred_at),
        "state": change.state,
    }
    if event_type == "address.bounced":
        data["undeliverable"] = change.undeliverable
    return _event(event_type, change.contact_public_id, change.occurred_at, data)


def _contact_corrected(correction: ContactCorrected) -> dict[str, Any]:
    data = {"contact_id": correction.contact_public_id, "fields": list(correction.fields),
            "updated_at": iso(correction.occurred_at)}
    return _event("contact.updated", correction.contact_public_id, correction.occurred_at, data)


def scrub_queued_personal_data(session: Session, contact_public_id: str) -> None:
    """Remove the contact's address, name and phone from deliveries not yet fanned out of it."""
    queued = session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.contact_public_id == contact_public_id)
    )
    for delivery in queued:
        body = json.loads(delivery.payload_json)
        data = body.get("data", {})
        if any(k in data for k in PERSONAL_FIELDS):
            for key in PERSONAL_FIELDS:
                data.pop(key, None)
            delivery.payload_json = json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _contact_erased(session: Session, erasure: ContactErased) -> dict[str, Any]:
    # Deliveries already made lose the person's details; endpoints hear of it by id only.
    scrub_queued_personal_data(session, erasure.contact_public_id)
    data = {"contact_id": erasure.contact_public_id, "erased_at": iso(erasure.occurred_at)}
    return _event("contact.erased", erasure.contact_public_id, erasure.occurred_at, data,
                  personal=False)


def queue_webhooks(session: Session, events: Sequence[DomainEvent]) -> None:
    """Queue the transaction's webhook events as one outbox item for the worker to fan out."""
    queued: list[dict[str, Any]] = []
    for happened in events:
        if isinstance(happened, ConsentChanged):
            said = _consent_changed(happened)
        elif isinstance(happened, ContactCorrected):
            said = _contact_corrected(happened)
        else:
            said = _contact_erased(session, happened)
        if said is not None:
            queued.append(said)
    if queued:
        now = events[-1].occurred_at
        outbox.enqueue(session, WEBHOOK_EVENT_KIND, f"webhook.event:{uuid.uuid4().hex}",
                       {"events": queued}, now=now)


def drop_queued_events(session: Session, contact_public_id: str) -> int:
    """Drop the person's events, but the notice of their erasure, from items not yet fanned out.

    For a restore re-applying an erasure: a restored queue must not tell a CRM about them again.
    A dropped event leaves its place empty, so the webhook-ids of the others stay what they were.
    """
    dropped = 0
    items = session.scalars(select(OutboxItem).where(
        OutboxItem.kind == WEBHOOK_EVENT_KIND,
        OutboxItem.status.in_([OutboxStatus.PENDING, OutboxStatus.RUNNING]),
    ).with_for_update())
    for item in items:
        events: list[dict[str, Any] | None] = json.loads(item.payload_json)["events"]
        kept = [said if said is None or said["contact_id"] != contact_public_id
                or said["type"] == "contact.erased" else None for said in events]
        gone = sum(1 for said in kept if said is None) - sum(1 for s in events if s is None)
        if gone:
            dropped += gone
            item.payload_json = json.dumps({"events": kept}, sort_keys=True)
    return dropped

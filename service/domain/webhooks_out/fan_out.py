"""The worker's side of emission: one queued "webhook event" item becomes one delivery per endpoint.

Endpoints are read when the item is fanned out, after the transaction that queued it committed,
so an endpoint added before that commit (by any process) cannot miss the event; one added in
the moment between commit and fan-out gets it too. Each delivery's webhook-id follows from the
item, the event and the endpoint, so fanning an item out again adds nothing already there.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.domain import outbox
from service.domain.models import Contact, WebhookDelivery, WebhookEndpoint
from service.domain.outbox import ClaimedItem
from service.domain.webhooks_out.delivery import DELIVERY_KIND
from service.domain.webhooks_out.emission import PERSONAL_FIELDS

# Webhook-ids are uuid5 names in this namespace: msg_ and 32 hex digits, as they always were.
_MESSAGE_IDS = uuid.UUID("6f1d3c5e-54a4-4c1e-9a57-0d3b8a7e2c10")


class _Wanting(NamedTuple):
    """What fanning out needs of an enabled endpoint."""

    id: int
    events: frozenset[str]
    include_personal_data: bool


_ENABLED_ENDPOINTS = select(
    WebhookEndpoint.id, WebhookEndpoint.events, WebhookEndpoint.include_personal_data
).where(WebhookEndpoint.disabled_at.is_(None)).order_by(WebhookEndpoint.id)


def message_id(item_key: str, index: int, endpoint_id: int) -> str:
    """Return the webhook-id of one event of an item for one endpoint (the same every time)."""
    return f"msg_{uuid.uuid5(_MESSAGE_IDS, f'{item_key}:{index}:{endpoint_id}').hex}"


def _personal(session: Session, contact_public_id: str) -> dict[str, Any]:
    # Shared-locked: an erasure running now either finishes first (and nothing is added) or
    # waits for this transaction and then scrubs what it made.
    row = session.execute(
        select(Contact.email, Contact.name, Contact.phone, Contact.erased_at)
        .where(Contact.public_id == contact_public_id).with_for_update(read=True)
    ).first()
    if row is None or row.erased_at is not None:
        return {}
    return dict(zip(PERSONAL_FIELDS, (row.email, row.name, row.phone), strict=True))


@dataclass
class FanOut:
    """Turn queued webhook events into deliveries to the endpoints that want them."""

    session_factory: sessionmaker[Session]

    def fan_out(self, item: ClaimedItem) -> None:
        """Add a delivery (and its outbox item) per event and endpoint, once, in one transaction."""
        with self.session_factory() as session:
            endpoints = [
                _Wanting(row.id, frozenset(row.events.split(",")), row.include_personal_data)
                for row in session.execute(_ENABLED_ENDPOINTS)
            ]
            if not endpoints:
                return
            events: list[dict[str, Any] | None] = item.payload["events"]
            made = set(session.scalars(select(WebhookDelivery.message_id).where(
                WebhookDelivery.message_id.in_([
                    message_id(item.idempotency_key, index, endpoint.id)
                    for index in range(len(events)) for endpoint in endpoints
                ]))))
            for index, said in enumerate(events):
                if said is None:
                    continue  # dropped by a restore (emission.drop_queued_events)
                wanting = [e for e in endpoints if said["type"] in e.events]
                personal = (_personal(session, said["contact_id"]) if said["personal"] and any(
                    e.include_personal_data for e in wanting) else {})
                for endpoint in wanting:
                    webhook_id = message_id(item.idempotency_key, index, endpoint.id)
                    if webhook_id not in made:
                        extra = personal if endpoint.include_personal_data else {}
                        _deliver(session, endpoint.id, webhook_id, said, extra)
            session.commit()


def _deliver(session: Session, endpoint_id: int, webhook_id: str, said: dict[str, Any],
             personal: dict[str, Any]) -> None:
    created_at = datetime.fromisoformat(said["timestamp"])
    data = {**json.loads(said["data"]), **personal}
    body = {"type": said["type"], "timestamp": said["timestamp"], "data": data}
    delivery = WebhookDelivery(
        endpoint_id=endpoint_id, message_id=webhook_id, event_type=said["type"],
        contact_public_id=said["contact_id"],
        payload_json=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status="pending", attempts=0, created_at=created_at,
    )
    session.add(delivery)
    session.flush()
    outbox.enqueue(session, DELIVERY_KIND, f"webhook:{delivery.id}",
                   {"delivery_id": delivery.id}, now=created_at)

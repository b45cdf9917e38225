"""Inbound webhook deliveries: remember what was handled so a redelivery records nothing new."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain.ledger import dialect_insert
from service.domain.models import InboundDelivery

# A delivery known only by a hash of its body is a repeat within this window: as long as a
# plugin could send the same bytes again (none of the form add-ons retries on a schedule; a
# resend is WordPress timing out and the visitor or the plugin trying again at once). Later the
# same body is a new submission: a person who did not confirm may fill in the form again.
BODY_HASH_WINDOW = timedelta(hours=1)


def body_key(raw: bytes) -> str:
    """Return the key of a delivery that carries no id of its own: a hash of its bytes."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def first_delivery(
    session: Session, scope: str, key: str, *, now: datetime, window: timedelta | None = None
) -> bool:
    """Claim a delivery in this transaction; False when it was handled before (within window)."""
    key = key[:200]
    inserted = session.execute(
        dialect_insert(session)(InboundDelivery)
        .values(scope=scope, delivery_key=key, received_at=now)
        .on_conflict_do_nothing(index_elements=["scope", "delivery_key"])
        .returning(InboundDelivery.id)
    ).scalar()
    if inserted is not None:
        return True
    query = select(InboundDelivery).where(
        InboundDelivery.scope == scope, InboundDelivery.delivery_key == key
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    row = session.scalars(query).one()
    if window is not None and now - row.received_at >= window:
        row.received_at = now
        return True
    return False

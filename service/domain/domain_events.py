"""Domain events: what a use case did, recorded in its unit of work; what follows is looked up.

The ledger (or a use case) records an event in the session; UnitOfWork.commit runs what the
side-effect table (service.domain.side_effects) says follows each, in the same transaction.
Events are plain values captured when the change is made, so what follows says what was true then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction


@dataclass(frozen=True, slots=True)
class ConsentChanged:
    """A consent event was appended to the ledger."""

    contact_public_id: str
    channel: str
    kind: str
    method: str
    source: str | None
    notice_version: int | None
    occurred_at: datetime
    state: str | None  # the subscription's state after the event
    undeliverable: bool  # whether the address was known not to work, after the event


@dataclass(frozen=True, slots=True)
class ContactCorrected:
    """Staff corrected a contact's details."""

    contact_public_id: str
    fields: tuple[str, ...]
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class ContactErased:
    """A contact's personal details were erased (on request, or by retention)."""

    contact_public_id: str
    occurred_at: datetime


DomainEvent = ConsentChanged | ContactCorrected | ContactErased

_PENDING = "domain_events"


def record(session: Session, happened: DomainEvent) -> None:
    """Note an event in the session's transaction; the unit of work's commit acts on it."""
    session.info.setdefault(_PENDING, []).append(happened)


def take(session: Session) -> list[DomainEvent]:
    """Return the events recorded in the session since the last take, and forget them."""
    taken: list[DomainEvent] = session.info.pop(_PENDING, [])
    return taken


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, previous: SessionTransaction) -> None:
    # What a rolled-back transaction did never happened: nothing may follow from it.
    if not previous.nested:
        session.info.pop(_PENDING, None)

"""What follows each domain event: the one table, run in the transaction that recorded the events.

UnitOfWork.commit looks each event up here and calls every side effect it names once, with all
the transaction's events that call for it, before the commit: a change and what follows from it
are kept or lost together. The mirror pass comes last: its queued row is shared by every writer.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from service.domain.domain_events import (
    ConsentChanged,
    ContactCorrected,
    ContactErased,
    DomainEvent,
)
from service.domain.mirror.queue import register_changed
from service.domain.uow import SideEffects
from service.domain.webhooks_out.emission import queue_webhooks


def queue_mirror_pass(session: Session, events: Sequence[DomainEvent]) -> None:
    """Queue one (coalesced, debounced) mirror pass for the transaction's changes."""
    register_changed(session, now=events[-1].occurred_at)


EVENT_HANDLERS: SideEffects = {
    ConsentChanged: (queue_webhooks, queue_mirror_pass),
    ContactCorrected: (queue_webhooks, queue_mirror_pass),
    ContactErased: (queue_webhooks, queue_mirror_pass),
}

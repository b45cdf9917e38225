"""Queueing a mirror pass: after anything that may change the register, and the full pass."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from service.domain import outbox
from service.domain.models import ServiceState

MIRROR_KIND = "mirror.pass"
MIRROR_COALESCE_KEY = "mirror"
# A burst of changes becomes one mirror pass when the pass waits this long.
MIRROR_DEBOUNCE = timedelta(seconds=1)
# Set by the periodic scheduler; the next pass is a full one (it repairs hand edits).
FULL_MIRROR_WANTED = "mirror.full_pass_requested"


def register_changed(session: Session, *, now: datetime) -> None:
    """Queue a (coalesced, debounced) mirror pass after anything that may change the register."""
    outbox.enqueue_coalesced(
        session, MIRROR_KIND, MIRROR_COALESCE_KEY, {}, now=now, delay=MIRROR_DEBOUNCE
    )


def request_full_pass(session: Session, *, now: datetime) -> None:
    """Ask for the next mirror pass to be a full one (in the caller's transaction)."""
    row = session.get(ServiceState, FULL_MIRROR_WANTED)
    if row is None:
        session.add(ServiceState(name=FULL_MIRROR_WANTED, value=now.isoformat(), updated_at=now))
    else:
        row.value = now.isoformat()
        row.updated_at = now


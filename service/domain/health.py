"""What readiness reports: the outbox backlog and the mirror's health."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.domain.mirror.status import mirror_health
from service.domain.models import OutboxItem, OutboxStatus


def parked_by_kind(session: Session) -> dict[str, int]:
    """Return how many outbox items of each kind are parked (can never go as they stand)."""
    rows = session.execute(
        select(OutboxItem.kind, func.count())
        .where(OutboxItem.status == OutboxStatus.DEAD)
        .group_by(OutboxItem.kind)
        .order_by(OutboxItem.kind)
    ).all()
    return {kind: int(count) for kind, count in rows}


def readiness(session: Session, *, now: datetime) -> dict[str, Any]:
    """Return the queue backlog, parked items, and the mirror's last success, last error and lag.

    Counts only: the reasons of parked items are for staff (outbox.parked), since an old
    failure's text is not guaranteed free of personal data.
    """
    waiting = select(func.count(), func.min(OutboxItem.created_at)).where(
        OutboxItem.status.in_([OutboxStatus.PENDING, OutboxStatus.RUNNING])
    )
    count, oldest = session.execute(waiting).one()
    parked = parked_by_kind(session)
    return {
        "outbox": {
            "waiting": int(count or 0),
            "oldest_waiting_seconds": round((now - oldest).total_seconds(), 3)
            if oldest else 0.0,
            # Parked items (status dead), all kinds together and per kind.
            "dead": sum(parked.values()),
            "parked": parked,
        },
        "mirror": mirror_health(session, now=now),
    }

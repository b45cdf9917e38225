"""The mirror's health: its last success and error, kept for /readyz and the staff pages."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.domain.mirror.queue import MIRROR_KIND
from service.domain.models import OutboxItem, OutboxStatus, ServiceState
from service.domain.uow import UnitOfWork

MIRROR_STATE = "mirror.status"


def record_status(new_uow: Callable[[], UnitOfWork], now: datetime,
                   **changes: Any) -> dict[str, Any]:
    """Update the mirror's status row; return what it said before."""
    with new_uow() as uow:
        row = uow.session.get(ServiceState, MIRROR_STATE, with_for_update=True)
        status: dict[str, Any] = json.loads(row.value) if row else {}
        before = dict(status)
        status.update(changes)
        if row is None:
            uow.session.add(ServiceState(name=MIRROR_STATE, value=json.dumps(status),
                                         updated_at=now))
        else:
            row.value = json.dumps(status)
            row.updated_at = now
        uow.commit()
    return before



def mirror_health(session: Session, *, now: datetime) -> dict[str, Any]:
    """Return the mirror's status row and how long its oldest waiting pass has waited."""
    mirror_waiting = session.scalar(
        select(func.min(OutboxItem.created_at)).where(
            OutboxItem.kind == MIRROR_KIND,
            OutboxItem.status.in_([OutboxStatus.PENDING, OutboxStatus.RUNNING]),
        )
    )
    state_row = session.get(ServiceState, MIRROR_STATE)
    mirror: dict[str, Any] = json.loads(state_row.value) if state_row else {}
    mirror["lag_seconds"] = (
        round((now - mirror_waiting).total_seconds(), 3) if mirror_waiting else 0.0
    )
    return mirror

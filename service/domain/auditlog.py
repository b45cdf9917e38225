"""Reading the audit log: admins browse and filter it, newest first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from service.domain.models import AuditEntry
from service.domain.uow import UnitOfWork

PAGE = 100


@dataclass(frozen=True)
class AuditFilter:
    """What to show: an action (or its prefix, e.g. "login"), an actor, a contact id."""

    action: str | None = None
    actor: str | None = None
    contact: str | None = None
    before: int | None = None


@dataclass(frozen=True)
class AuditLine:
    """One entry as the page shows it."""

    id: int
    occurred_at: datetime
    actor_type: str
    actor_id: str | None
    action: str
    contact_public_id: str | None
    ip: str | None
    detail: Any


def browse(uow: UnitOfWork, wanted: AuditFilter, *, limit: int = PAGE) -> list[AuditLine]:
    """Return up to limit entries matching the filter, newest first, older than `before`."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if wanted.action:
        query = query.where((AuditEntry.action == wanted.action)
                            | AuditEntry.action.startswith(wanted.action + ".", autoescape=True))
    if wanted.actor:
        query = query.where(AuditEntry.actor_id.contains(wanted.actor, autoescape=True))
    if wanted.contact:
        query = query.where(AuditEntry.contact_public_id == wanted.contact.strip())
    if wanted.before:
        query = query.where(AuditEntry.id < wanted.before)
    with uow:
        return [
            AuditLine(e.id, e.occurred_at, e.actor_type, e.actor_id, e.action,
                      e.contact_public_id, e.ip,
                      json.loads(e.detail_json) if e.detail_json else None)
            for e in uow.session.scalars(query)
        ]

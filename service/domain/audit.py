"""The audit log: who did what to which contact, when and from where; never an address.

Use cases append entries in their own transaction; admins browse them, newest first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain.actors import Actor
from service.domain.models import AuditEntry
from service.domain.uow import UnitOfWork

# Entries shown on one page of the audit log.
PAGE = 100


def _refuse_addresses(value: Any) -> None:
    """Raise when a detail holds something that looks like an email address."""
    if isinstance(value, str):
        if "@" in value:
            raise ValueError("audit details name contacts by id, never by address")
    elif isinstance(value, Mapping):
        for item in value.values():
            _refuse_addresses(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_addresses(item)


def append(
    session: Session,
    actor: Actor,
    action: str,
    contact_public_id: str | None = None,
    ip: str | None = None,
    detail: Mapping[str, Any] | None = None,
    *,
    now: datetime,
) -> AuditEntry:
    """Append one audit entry in the caller's transaction."""
    if detail is not None:
        _refuse_addresses(detail)
    entry = AuditEntry(
        occurred_at=now,
        actor_type=actor.type.value,
        actor_id=actor.id,
        action=action,
        contact_public_id=contact_public_id,
        ip=ip,
        detail_json=json.dumps(detail, ensure_ascii=False, sort_keys=True)
        if detail is not None
        else None,
    )
    session.add(entry)
    return entry


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

"""The audit log: who did what to which contact, when and from where; never an address."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from service.domain.actors import Actor
from service.domain.models import AuditEntry


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

"""The audit log: who did what to which contact, when and from where; never an address.

Use cases append entries in their own transaction; admins browse them, newest first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select
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


# Every action the service writes, for the log's "what happened" choice.
ACTIONS = (
    "login", "login.failed", "logout", "staff.create", "staff.disable", "staff.enable",
    "staff.password", "staff.totp_enrol", "staff.totp_reset", "contact.search", "contact.view",
    "contact.proof", "contact.export", "contact.correct", "contact.unflag", "contact.withdraw",
    "contact.erase", "contact.lookup", "consent.verbal", "withdrawal.request", "register.read",
    "register.export", "import", "retention.run", "notice.publish", "mail.send_again",
    "apikey.create", "apikey.revoke", "api.denied", "source.add", "source.rotate",
    "source.remove", "webhook.add", "webhook.rotate", "webhook.disable", "webhook.enable",
    "webhook.delete", "webhook.redeliver", "health.read",
)


@dataclass(frozen=True)
class AuditFilter:
    """What to show: an action (or its prefix, e.g. "login"), who acted, a contact id, a span.

    who is an actor type ("person", "system") or a type and its id ("staff:3:omistaja");
    since and until bound the moment (until excluded); before and after page by entry id.
    """

    action: str | None = None
    who: str | None = None
    contact: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None
    after: int | None = None


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


@dataclass(frozen=True)
class AuditPage:
    """One page of entries, newest first, with the ids to page newer and older from."""

    lines: list[AuditLine]
    newer: int | None
    older: int | None


def _matching(wanted: AuditFilter) -> list[ColumnElement[bool]]:
    """Return the conditions of a filter, paging aside."""
    found: list[ColumnElement[bool]] = []
    if wanted.action:
        found.append((AuditEntry.action == wanted.action)
                     | AuditEntry.action.startswith(wanted.action + ".", autoescape=True))
    if wanted.who:
        kind, _, actor_id = wanted.who.partition(":")
        found.append(AuditEntry.actor_type == kind)
        if actor_id:
            found.append(AuditEntry.actor_id == actor_id)
    if wanted.contact:
        found.append(AuditEntry.contact_public_id == wanted.contact.strip())
    if wanted.since is not None:
        found.append(AuditEntry.occurred_at >= wanted.since)
    if wanted.until is not None:
        found.append(AuditEntry.occurred_at < wanted.until)
    return found


def _line(e: AuditEntry) -> AuditLine:
    """Turn a stored entry into a line, its detail read back from JSON."""
    return AuditLine(e.id, e.occurred_at, e.actor_type, e.actor_id, e.action,
                     e.contact_public_id, e.ip,
                     json.loads(e.detail_json) if e.detail_json else None)


def browse(uow: UnitOfWork, wanted: AuditFilter, *, limit: int = PAGE) -> AuditPage:
    """Return a page of entries matching the filter, newest first.

    The page holds the entries just older than `before`, or just newer than `after`, or the
    newest; `newer` and `older` say where the next pages start, or None at either end.
    """
    conditions = _matching(wanted)
    query = select(AuditEntry).where(*conditions).limit(limit + 1)
    if wanted.after is not None and wanted.before is None:
        query = query.where(AuditEntry.id > wanted.after).order_by(AuditEntry.id.asc())
    else:
        if wanted.before is not None:
            query = query.where(AuditEntry.id < wanted.before)
        query = query.order_by(AuditEntry.id.desc())
    with uow:
        session = uow.session
        rows = list(session.scalars(query))
        more = len(rows) > limit
        rows = rows[:limit]
        going_newer = wanted.after is not None and wanted.before is None
        if going_newer:
            rows.reverse()
        lines = [_line(e) for e in rows]
        if not lines:
            return AuditPage([], None, None)

        def beyond(condition: ColumnElement[bool]) -> bool:
            """Tell whether a matching entry lies beyond this page on one side."""
            return session.scalar(
                select(AuditEntry.id).where(*conditions, condition).limit(1)) is not None

        newest, oldest = lines[0].id, lines[-1].id
        has_newer = more if going_newer else beyond(AuditEntry.id > newest)
        has_older = beyond(AuditEntry.id < oldest) if going_newer else more
    return AuditPage(lines, newest if has_newer else None, oldest if has_older else None)


def actors(uow: UnitOfWork) -> list[tuple[str, str | None]]:
    """Return every (actor type, actor id) the log names, for the log's "who" choice."""
    query = select(AuditEntry.actor_type, AuditEntry.actor_id).distinct()
    with uow:
        return sorted({(kind, actor_id) for kind, actor_id in uow.session.execute(query)},
                      key=lambda pair: (pair[0], pair[1] or ""))

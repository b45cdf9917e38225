"""The outbox: side effects recorded in the transaction that caused them."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, text, update
from sqlalchemy.orm import Session

from service.domain.ledger_rows import DriverStatement, transaction_connection
from service.domain.models import OutboxItem, OutboxStatus, UTCDateTime

MAX_BACKOFF = timedelta(hours=1)
# Enough attempts at a one-hour cap to keep trying for about three days.
MAX_ATTEMPTS = 80


# Plain SQL that SQLite (3.35+) and PostgreSQL both read. SQLAlchemy's dialect insert()
# constructs with on_conflict are not cached: built that way, every enqueue was compiled anew.
_COLUMNS = (
    "INSERT INTO outbox (kind, idempotency_key, coalesce_key, contact_id, payload_json, status,"
    " attempts, created_at, not_before)"
    " VALUES (:kind, :idempotency_key, :coalesce_key, :contact_id, :payload_json, 'pending', 0,"
    " :created_at, :not_before)"
)
_TIMES = (
    bindparam("created_at", type_=UTCDateTime()), bindparam("not_before", type_=UTCDateTime())
)
ENQUEUE = DriverStatement(
    text(_COLUMNS + " ON CONFLICT (idempotency_key) DO NOTHING").bindparams(*_TIMES))
# The conflict target names the partial unique index uq_outbox_pending_coalesce by its
# predicate, as literal SQL: with the predicate as bound parameters, PostgreSQL could not match
# a server-side prepared statement (psycopg prepares after a few executions) to the index.
ENQUEUE_COALESCED = DriverStatement(text(
    _COLUMNS + " ON CONFLICT (coalesce_key) WHERE status = 'pending' AND coalesce_key IS NOT NULL"
    " DO NOTHING"
).bindparams(*_TIMES))


def enqueue(
    session: Session,
    kind: str,
    idempotency_key: str,
    payload: Mapping[str, Any],
    *,
    now: datetime,
    contact_id: int | None = None,
    not_before: datetime | None = None,
) -> None:
    """Queue a side effect once per idempotency key; a repeat of the key is ignored."""
    ENQUEUE.execute(transaction_connection(session), {
        "kind": kind,
        "idempotency_key": idempotency_key,
        "coalesce_key": None,
        "contact_id": contact_id,
        "payload_json": json.dumps(payload, sort_keys=True),
        "created_at": now,
        "not_before": not_before or now,
    })


def enqueue_coalesced(
    session: Session,
    kind: str,
    coalesce_key: str,
    payload: Mapping[str, Any],
    *,
    now: datetime,
    delay: timedelta = timedelta(0),
) -> None:
    """Queue work that many changes can share: while one such item waits, no second is added.

    One statement: an item already pending under the key makes this insert do nothing.
    """
    ENQUEUE_COALESCED.execute(transaction_connection(session), {
        "kind": kind,
        "idempotency_key": f"{coalesce_key}:{now.isoformat()}:{random.getrandbits(48):x}",
        "coalesce_key": coalesce_key,
        "contact_id": None,
        "payload_json": json.dumps(payload, sort_keys=True),
        "created_at": now,
        "not_before": now + delay,
    })


@dataclass(frozen=True)
class ClaimedItem:
    """An outbox item one worker holds for a while."""

    id: int
    kind: str
    idempotency_key: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


def claim_due(
    session: Session, *, now: datetime, lease: timedelta, limit: int = 10,
    kinds: tuple[str, ...] | None = None,
) -> list[ClaimedItem]:
    """Take due items (and items whose holder died) for this worker, skipping locked rows."""
    due = or_(
        and_(OutboxItem.status == OutboxStatus.PENDING, OutboxItem.not_before <= now),
        and_(OutboxItem.status == OutboxStatus.RUNNING, OutboxItem.locked_until < now),
    )
    query = select(OutboxItem).where(due)
    if kinds:
        query = query.where(OutboxItem.kind.in_(kinds))
    query = query.order_by(OutboxItem.not_before, OutboxItem.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(session.scalars(query))
    claimed = []
    for row in rows:
        # Leaving "pending" frees a coalesce slot: later changes queue a fresh item.
        row.status = OutboxStatus.RUNNING
        row.locked_until = now + lease
        row.attempts += 1
        claimed.append(
            ClaimedItem(
                id=row.id,
                kind=row.kind,
                idempotency_key=row.idempotency_key,
                payload=json.loads(row.payload_json),
                attempts=row.attempts,
                created_at=row.created_at,
            )
        )
    return claimed


def complete(session: Session, item_id: int, *, now: datetime) -> None:
    """Mark an item done."""
    session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id)
        .values(status=OutboxStatus.DONE, done_at=now, locked_until=None, last_error=None)
    )


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Return how long to wait after a failed attempt: exponential, capped, with jitter."""
    base = min(MAX_BACKOFF.total_seconds(), 5.0 * (2 ** max(attempts - 1, 0)))
    jitter = (rng or random).uniform(0.5, 1.0)
    return timedelta(seconds=base * jitter)


def park(session: Session, item_id: int, reason: str) -> None:
    """Set an item aside for good (status dead) with the reason a person can act on.

    For an item that can never succeed as it stands; the worker never claims it again. It is
    counted by readiness and listed by parked(); release() queues it again once put right.
    """
    session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id)
        .values(status=OutboxStatus.DEAD, locked_until=None, last_error=reason[:2000])
    )


@dataclass(frozen=True)
class ParkedItem:
    """An item set aside for good, as staff see it: what it is and why, no payload."""

    id: int
    kind: str
    reason: str | None
    attempts: int
    created_at: datetime
    contact_id: int | None


def parked(session: Session, *, kind: str | None = None, limit: int = 100) -> list[ParkedItem]:
    """Return the parked items (status dead), newest first."""
    query = select(OutboxItem).where(OutboxItem.status == OutboxStatus.DEAD)
    if kind is not None:
        query = query.where(OutboxItem.kind == kind)
    rows = session.scalars(query.order_by(OutboxItem.id.desc()).limit(limit))
    return [ParkedItem(r.id, r.kind, r.last_error, r.attempts, r.created_at, r.contact_id)
            for r in rows]


def release(session: Session, item_id: int, *, now: datetime) -> bool:
    """Queue a parked item again, due now, with a fresh count of attempts; tell if it was parked.

    For when what stopped it has been put right (the mail server now offers SMTPUTF8, say).
    Coalesced work (a mirror pass) is not released: the next change queues a fresh one.
    """
    item = session.get(OutboxItem, item_id, with_for_update=True)
    if item is None or item.status != OutboxStatus.DEAD or item.coalesce_key is not None:
        return False
    item.status = OutboxStatus.PENDING
    item.not_before = now
    item.attempts = 0
    item.locked_until = None
    return True


def fail(
    session: Session, item_id: int, error: str, *, now: datetime,
    retry_after: timedelta | None = None,
) -> None:
    """Record a failed attempt and schedule the next one (or give up after about three days)."""
    item = session.get(OutboxItem, item_id, with_for_update=False)
    if item is None:
        return
    item.last_error = error[:2000]
    item.locked_until = None
    if item.attempts >= MAX_ATTEMPTS:
        item.status = OutboxStatus.DEAD
        return
    if item.coalesce_key is not None:
        newer = session.scalar(
            select(OutboxItem.id).where(
                OutboxItem.coalesce_key == item.coalesce_key,
                OutboxItem.status == OutboxStatus.PENDING,
                OutboxItem.id != item.id,
            )
        )
        if newer is not None:
            # A later pass is already queued and will do this work too.
            item.status = OutboxStatus.DONE
            item.done_at = now
            return
    item.status = OutboxStatus.PENDING
    item.not_before = now + (retry_after or backoff(item.attempts))

"""The ledger's rows as plain statements: how events, evidence and subscriptions reach the table.

The rules live in service.domain.ledger; this module only writes what they decided. Every
statement is a cached Core construct run on the transaction's connection, so a hot path pays
for the statement and not for the unit of work: a row written here is at once the session's
object for that row, as loaded, and nothing is left for a flush to find (no autoflush before a
later query, no UPDATE at commit).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, inspect, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from service.domain.models import ConsentEvent, Contact, Evidence, Subscription

_EVENTS = cast(Table, ConsentEvent.__table__)
_CONTACTS = cast(Table, Contact.__table__)
_SUBSCRIPTIONS = cast(Table, Subscription.__table__)
_SUBSCRIPTION_COLUMNS = tuple(column.name for column in _SUBSCRIPTIONS.columns)

INSERT_EVENT = insert(_EVENTS).returning(_EVENTS.c.id)
INSERT_EVIDENCE = insert(cast(Table, Evidence.__table__))
INSERT_SUBSCRIPTION = insert(_SUBSCRIPTIONS)
# UPDATEs without values(): each parameter named after a column is set, so one statement
# serves every set of columns (and is compiled once per set).
TOUCH_CONTACT = update(_CONTACTS).where(_CONTACTS.c.id == bindparam("contact_id"))
UPDATE_SUBSCRIPTION = update(_SUBSCRIPTIONS).where(
    _SUBSCRIPTIONS.c.contact_id == bindparam("of_contact"),
    _SUBSCRIPTIONS.c.channel == bindparam("of_channel"),
)


def _connection(session: Session) -> Connection:
    # The transaction's own connection: the same transaction as the session's ORM work.
    return session.connection()


def _as_loaded(session: Session, row: Any) -> None:
    """Make a new object the session's object for the row just written, without a 2nd INSERT."""
    make_transient_to_detached(row)
    session.add(row)


def insert_event(session: Session, values: dict[str, Any]) -> ConsentEvent:
    """Insert an event row and return it as the session's object for that row."""
    event_id = _connection(session).execute(INSERT_EVENT, values).scalar_one()
    event = ConsentEvent(id=event_id, **values)
    _as_loaded(session, event)
    return event


def insert_evidence(session: Session, values: dict[str, Any]) -> None:
    """Insert what proves an event."""
    _connection(session).execute(INSERT_EVIDENCE, values)


def insert_subscription(session: Session, values: dict[str, Any]) -> Subscription:
    """Insert a subscription row and return it as the session's object for that row."""
    row = {column: values.get(column) for column in _SUBSCRIPTION_COLUMNS}
    _connection(session).execute(INSERT_SUBSCRIPTION, row)
    sub = Subscription(**row)
    _as_loaded(session, sub)
    return sub


def _written_as_loaded(held: Any) -> bool:
    """Tell whether an object is a stored row with no change of its own waiting for a flush."""
    state = inspect(held)
    return bool(state.persistent and not state.modified)


def update_subscription(session: Session, sub: Subscription, values: dict[str, Any]) -> None:
    """Set columns of a held subscription row: in one UPDATE of those that change, at once.

    Like the unit of work, the UPDATE names only the columns whose value changes (the mirror's
    triggers fire on the columns named). An object with changes of its own still waiting for
    the flush keeps going that way, so the two never disagree about what is stored.
    """
    if not _written_as_loaded(sub):
        for name, value in values.items():
            setattr(sub, name, value)
        return
    changed = {name: value for name, value in values.items() if getattr(sub, name) != value}
    if not changed:
        return
    _connection(session).execute(
        UPDATE_SUBSCRIPTION, {**changed, "of_contact": sub.contact_id, "of_channel": sub.channel})
    for name, value in changed.items():
        set_committed_value(sub, name, value)


def touch_contact(session: Session, contact: Contact, now: datetime) -> None:
    """Set when the contact last changed, at once, unless that is already when."""
    if contact.updated_at == now:
        return
    if not _written_as_loaded(contact):
        contact.updated_at = now
        return
    _connection(session).execute(TOUCH_CONTACT, {"contact_id": contact.id, "updated_at": now})
    set_committed_value(contact, "updated_at", now)

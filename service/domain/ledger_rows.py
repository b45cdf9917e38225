"""The ledger's rows as plain statements: how contacts, events, evidence and subscriptions
are read from and reach the tables.

The rules live in service.domain.ledger; this module only reads and writes what they decided.
Every statement is a cached Core construct run on the transaction's connection, so a hot path
pays for the statement and not for the unit of work: a row read or written here is at once the
session's object for that row, as loaded, and nothing is left for a flush to find (no autoflush
before a later query, no UPDATE at commit). On PostgreSQL a write goes to the driver as the
text it compiles to (DriverStatement), without SQLAlchemy's per-execution cache look-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Insert,
    Select,
    Table,
    TextClause,
    TextualSelect,
    Update,
    bindparam,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Connection, CursorResult, Dialect
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.orm.util import identity_key

from service.domain.models import ConsentEvent, Contact, Evidence, Subscription

_EVENTS = cast(Table, ConsentEvent.__table__)
_CONTACTS = cast(Table, Contact.__table__)
_SUBSCRIPTIONS = cast(Table, Subscription.__table__)
_SUBSCRIPTION_COLUMNS = tuple(column.name for column in _SUBSCRIPTIONS.columns)
Row = TypeVar("Row", Contact, Subscription, ConsentEvent)
TRANSACTION_CONNECTION = "consent.transaction_connection"

Read = tuple[Select[Any], Select[Any]]


def _read_and_lock(statement: Select[Any]) -> Read:
    """Return a read as it is and locking the rows it finds (FOR UPDATE), both built once."""
    return statement, statement.with_for_update()


# Reads of the rows a use case then changes. (Every mapped attribute of these models is named
# after its column.)
CONTACT_BY_PUBLIC_ID = _read_and_lock(
    select(_CONTACTS).where(_CONTACTS.c.public_id == bindparam("public_id")))
CONTACT_BY_EMAIL_KEY = _read_and_lock(
    select(_CONTACTS).where(_CONTACTS.c.email_key == bindparam("email_key"),
                            _CONTACTS.c.erased_at.is_(None)))
SUBSCRIPTIONS_OF = _read_and_lock(
    select(_SUBSCRIPTIONS).where(_SUBSCRIPTIONS.c.contact_id == bindparam("contact_id")))

# The SQL text, the processor of each parameter whose type has one and of each returned
# column whose type has one; None: the statement runs as Core.
_DriverText = tuple[str, tuple[tuple[str, Any], ...], tuple[tuple[str, Any], ...]] | None


class DriverStatement:
    """A writing statement run on PostgreSQL as the SQL text it compiles to, compiled once.

    SQLAlchemy builds a Core statement's cache key, looks it up and prepares its parameters on
    every execution: for a one-row write that costs about as much again as the driver's own
    work. Here each set of parameter names is compiled once and its text handed to the driver
    (exec_driver_sql: the engine's events still see every statement); each parameter and each
    returned column still goes through its type's processing (a naive time is refused, a time
    read comes back in UTC, as before). A statement that needs what the caller did not give (a
    column default) and other databases (SQLite) run the Core statement as it is.
    """

    def __init__(self, statement: Insert | Update | TextClause | TextualSelect) -> None:
        """Keep the Core statement; nothing is compiled before it is first run."""
        self.statement = statement
        self._texts: dict[frozenset[str], _DriverText] = {}

    def _compile(self, dialect: Dialect, names: frozenset[str]) -> _DriverText:
        compiled = self.statement.compile(dialect=dialect, column_keys=sorted(names))
        if compiled.positional or not set(compiled.binds) <= names:
            return None
        binds = tuple(
            (name, processor) for name, bind in compiled.binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        )
        returned = tuple(
            (column.name, processor)
            for column in getattr(self.statement, "exported_columns", ())
            if (processor := column.type.dialect_impl(dialect).result_processor(dialect, None))
            is not None
        )
        return str(compiled), binds, returned

    def _driver_text(self, connection: Connection, params: dict[str, Any]) -> _DriverText:
        if connection.dialect.name != "postgresql":
            return None
        names = frozenset(params)
        if names not in self._texts:
            self._texts[names] = self._compile(connection.dialect, names)
        return self._texts[names]

    def execute(self, connection: Connection, params: dict[str, Any]) -> CursorResult[Any]:
        """Run the statement with params on connection (the transaction's)."""
        driver_text = self._driver_text(connection, params)
        if driver_text is None:
            return connection.execute(self.statement, params)
        sql, binds, _ = driver_text
        if binds:
            params = {**params, **{name: process(params[name]) for name, process in binds}}
        return connection.exec_driver_sql(sql, params)

    def one(self, connection: Connection, params: dict[str, Any]) -> dict[str, Any]:
        """Run the statement and return the one row it returns, by column name."""
        row = dict(self.execute(connection, params).one()._mapping)
        driver_text = self._driver_text(connection, params)
        if driver_text is not None:
            for name, process in driver_text[2]:
                row[name] = process(row[name])
        return row


INSERT_EVENT = DriverStatement(insert(_EVENTS).returning(_EVENTS.c.id))
INSERT_EVIDENCE = DriverStatement(insert(cast(Table, Evidence.__table__)))
INSERT_SUBSCRIPTION = DriverStatement(insert(_SUBSCRIPTIONS))
# UPDATEs without values(): each parameter named after a column is set, so one statement
# serves every set of columns (and is compiled once per set).
TOUCH_CONTACT = DriverStatement(
    update(_CONTACTS).where(_CONTACTS.c.id == bindparam("contact_id")))
UPDATE_SUBSCRIPTION = DriverStatement(update(_SUBSCRIPTIONS).where(
    _SUBSCRIPTIONS.c.contact_id == bindparam("of_contact"),
    _SUBSCRIPTIONS.c.channel == bindparam("of_channel"),
))


def transaction_connection(session: Session) -> Connection:
    """Return the transaction's own connection: the same transaction as the session's ORM work."""
    # Session.connection() looks the bind and the transaction up on every call, and a hot path
    # makes six: the connection is kept in the session's info while its transaction lasts.
    held: Connection | None = session.info.get(TRANSACTION_CONNECTION)
    if (held is not None and session.in_transaction() and not held.closed
            and held.in_transaction()):
        return held
    connection = session.info[TRANSACTION_CONNECTION] = session.connection()
    return connection


def as_loaded(session: Session, entity: type[Row], values: Mapping[str, Any]) -> Row:
    """Return the session's object for a row just read or written, as if the ORM had loaded it.

    An object the session already holds for the row is kept, as an ORM query keeps it (only
    what it has not loaded is filled in); otherwise a new one is made from the values without
    the constructor's attribute events, and added without a second INSERT.
    """
    key = identity_key(entity, tuple(values[c.name] for c in entity.__mapper__.primary_key))
    held = session.identity_map.get(key)
    if held is not None:
        for name in instance_state(held).unloaded:
            set_committed_value(held, name, values[name])
        return held
    row = cast(Row, entity.__mapper__.class_manager.new_instance())
    instance_state(row).dict.update(values)
    make_transient_to_detached(row)
    session.add(row)
    return row


def _read(session: Session, read: Read, params: dict[str, Any], lock: bool) -> list[Any]:
    """Return the mappings of the rows a read finds, locked for update when asked."""
    # As an ORM query would: a change still waiting for the flush is written before the read.
    if session.autoflush:
        session.flush()
    found = transaction_connection(session).execute(read[1] if lock else read[0], params)
    return list(found.mappings())


def contact_by_public_id(session: Session, public_id: str, *, lock: bool) -> Contact | None:
    """Return the contact with this public id (tombstones included), as the session's object."""
    rows = _read(session, CONTACT_BY_PUBLIC_ID, {"public_id": public_id}, lock)
    return as_loaded(session, Contact, rows[0]) if rows else None


def contact_by_email_key(session: Session, key: str, *, lock: bool) -> Contact | None:
    """Return the live contact with this address key, as the session's object."""
    rows = _read(session, CONTACT_BY_EMAIL_KEY, {"email_key": key}, lock)
    return as_loaded(session, Contact, rows[0]) if rows else None


def subscriptions_of(session: Session, contact_id: int, *, lock: bool
                     ) -> dict[str, Subscription]:
    """Return a contact's subscriptions by channel, as the session's objects."""
    rows = _read(session, SUBSCRIPTIONS_OF, {"contact_id": contact_id}, lock)
    return {row["channel"]: as_loaded(session, Subscription, row) for row in rows}


def insert_event(session: Session, values: dict[str, Any]) -> ConsentEvent:
    """Insert an event row and return it as the session's object for that row."""
    event_id = INSERT_EVENT.execute(transaction_connection(session), values).scalar_one()
    return as_loaded(session, ConsentEvent, {"id": event_id, **values})


def insert_evidence(session: Session, values: dict[str, Any]) -> None:
    """Insert what proves an event."""
    INSERT_EVIDENCE.execute(transaction_connection(session), values)


def insert_subscription(session: Session, values: dict[str, Any]) -> Subscription:
    """Insert a subscription row and return it as the session's object for that row."""
    row = {column: values.get(column) for column in _SUBSCRIPTION_COLUMNS}
    INSERT_SUBSCRIPTION.execute(transaction_connection(session), row)
    return as_loaded(session, Subscription, row)


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
    UPDATE_SUBSCRIPTION.execute(transaction_connection(session), {
        **changed, "of_contact": sub.contact_id, "of_channel": sub.channel})
    for name, value in changed.items():
        set_committed_value(sub, name, value)


def touch_contact(session: Session, contact: Contact, now: datetime) -> None:
    """Set when the contact last changed, at once, unless that is already when."""
    if contact.updated_at == now:
        return
    if not _written_as_loaded(contact):
        contact.updated_at = now
        return
    TOUCH_CONTACT.execute(transaction_connection(session),
                          {"contact_id": contact.id, "updated_at": now})
    set_committed_value(contact, "updated_at", now)

"""The consent ledger: contacts, append-only events, their evidence and the state they imply."""

from __future__ import annotations

import json
import threading
import time
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from service.domain import domain_events, ledger_rows
from service.domain.actors import Actor as Actor  # re-exported: callers name it ledger.Actor
from service.domain.domain_events import ConsentChanged
from service.domain.models import (
    ConsentEvent,
    Contact,
    EventKind,
    Evidence,
    Notice,
    Subscription,
    SubscriptionState,
    UTCDateTime,
)
from service.domain.normalize import Address, FieldProblem, InvalidInput

# How long a process trusts the current notice version it last read. A version published by
# this process is seen at once; one published by another process within this many seconds.
CURRENT_NOTICE_TTL = 2.0

STATE_AFTER: dict[EventKind, SubscriptionState | None] = {
    EventKind.REQUESTED: SubscriptionState.PENDING,
    EventKind.CONFIRMED: SubscriptionState.SUBSCRIBED,
    EventKind.GRANTED: SubscriptionState.SUBSCRIBED,
    EventKind.WITHDRAWN: SubscriptionState.UNSUBSCRIBED,
    EventKind.COMPLAINED: SubscriptionState.UNSUBSCRIBED,
    EventKind.BOUNCED: None,
}


@dataclass(frozen=True)
class EvidenceData:
    """What proves an event, as the caller saw it."""

    ip: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    page_url: str | None = None
    fields: Mapping[str, Any] | None = None
    note: str | None = None


@dataclass(frozen=True)
class NoticeRef:
    """The version and language of the words a person was shown or read."""

    version: int
    language: str


@dataclass
class ChangeLog:
    """What a use case changed, for callers that report it."""

    events: list[ConsentEvent] = field(default_factory=list)


def dialect_insert(session: Session) -> Any:
    """Return the session's dialect's insert(), the one with on_conflict_do_nothing/update."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def find_contact_by_email(session: Session, key: str, *, lock: bool = False) -> Contact | None:
    """Return the live contact with this address key."""
    return ledger_rows.contact_by_email_key(session, key, lock=lock)


def find_contact(session: Session, public_id: str, *, lock: bool = False) -> Contact | None:
    """Return the contact with this public id (tombstones included)."""
    return ledger_rows.contact_by_public_id(session, public_id, lock=lock)


# The one way a contact is created for an address (opt-in, verbal consent, import). Plain SQL
# that SQLite (3.35+) and PostgreSQL both read; SQLAlchemy's dialect insert() with on_conflict
# would be compiled anew on every call (it is not cached).
def _upsert_contact(on_conflict: str) -> ledger_rows.DriverStatement:
    return ledger_rows.DriverStatement(
        text(
            # The column names come from the model, never from input.
            "INSERT INTO contacts (public_id, email, email_key, name, phone, language,"  # noqa: S608
            " soft_bounces, created_at, updated_at)"
            " VALUES (:public_id, :email, :email_key, :name, :phone, :language, 0, :now, :now)"
            " ON CONFLICT (email_key) DO UPDATE SET " + on_conflict +
            " RETURNING " + ", ".join(column.name for column in Contact.__table__.columns)
        )
        .bindparams(bindparam("now", type_=UTCDateTime()))
        .columns(*Contact.__table__.columns)
    )


# A known address has its missing name and phone filled in, never overwritten...
_UPSERT_CONTACT = _upsert_contact(
    "name = COALESCE(contacts.name, excluded.name),"
    " phone = COALESCE(contacts.phone, excluded.phone)"
)
# ...or, when whoever asks has not shown they own the address, left as it is (the no-op update
# still locks and returns the row).
_UPSERT_CONTACT_UNCHANGED = _upsert_contact("email_key = contacts.email_key")
# (attribute, column) of every mapped column of Contact, to make an object of a returned row.
_CONTACT_ATTRIBUTES = tuple(
    (prop.key, prop.columns[0].name) for prop in Contact.__mapper__.column_attrs
)


def upsert_contact(
    session: Session,
    address: Address,
    *,
    name: str | None,
    phone: str | None,
    language: str,
    now: datetime,
    fill_gaps: bool = True,
) -> tuple[Contact, bool]:
    """Return the contact for the address, locked, and whether it was created just now.

    One statement whatever happens: a new address is inserted with the name and phone given; a
    known one has its missing name and phone filled in (never overwritten) when fill_gaps, else
    it is left as it is: details from someone who has not shown they own the address (an
    opt-in before its confirmation) must not land on a record. Safe when many requests race for
    one address.
    """
    public_id = str(uuid.uuid4())
    upsert = _UPSERT_CONTACT if fill_gaps else _UPSERT_CONTACT_UNCHANGED
    row = upsert.one(ledger_rows.transaction_connection(session), {
        "public_id": public_id, "email": address.display, "email_key": address.key,
        "name": name, "phone": phone, "language": language, "now": now})
    values = {attribute: row[column] for attribute, column in _CONTACT_ATTRIBUTES}
    # The row becomes the session's object as loaded (ORM loading of a textual statement costs
    # an opt-in about as much again as the statement); one the session holds is brought up to date.
    held = session.identity_map.get(identity_key(Contact, (values["id"],)))
    if isinstance(held, Contact):
        for attribute, value in values.items():
            set_committed_value(held, attribute, value)
        contact = held
    else:
        contact = ledger_rows.as_loaded(session, Contact, values)
    return contact, contact.public_id == public_id


def submitted_fields(session: Session, event_id: int, contact_id: int) -> dict[str, Any]:
    """Return what was submitted with one of the contact's events (its evidence), if still held."""
    raw = session.scalar(
        select(Evidence.fields_json).where(
            Evidence.event_id == event_id, Evidence.contact_id == contact_id
        )
    )
    if not raw:
        return {}
    fields = json.loads(raw)
    return fields if isinstance(fields, dict) else {}


def subscription(
    session: Session, contact: Contact, channel: str, *, lock: bool = False
) -> Subscription | None:
    """Return the contact's subscription on the channel, if any."""
    query = select(Subscription).where(
        Subscription.contact_id == contact.id, Subscription.channel == channel
    )
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def subscriptions_of(session: Session, contact: Contact, *, lock: bool = False
                     ) -> dict[str, Subscription]:
    """Return the contact's subscriptions by channel, in one query."""
    return ledger_rows.subscriptions_of(session, contact.id, lock=lock)


class _NoticeCache:
    """What one database's notices are known to be, shared by one process's threads.

    Published versions are never edited, so the languages of a version are cached for good;
    only which version is current can change, and that is re-read after CURRENT_NOTICE_TTL.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current: int | None = None
        self.current_read_at = 0.0
        self.languages: dict[int, frozenset[str]] = {}


_NOTICE_CACHES: weakref.WeakKeyDictionary[Engine, _NoticeCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _notice_cache(session: Session) -> _NoticeCache:
    bind = session.get_bind()
    engine: Engine = bind if isinstance(bind, Engine) else bind.engine
    with _CACHES_LOCK:
        cache = _NOTICE_CACHES.get(engine)
        if cache is None:
            cache = _NOTICE_CACHES[engine] = _NoticeCache()
        return cache


def notice_published(session: Session) -> None:
    """Forget which notice version is current (call it when publishing a new one)."""
    cache = _notice_cache(session)
    with cache.lock:
        cache.current = None


def current_notice_version(session: Session) -> int:
    """Return the newest published notice version."""
    cache = _notice_cache(session)
    with cache.lock:
        if cache.current is not None and (
            time.monotonic() - cache.current_read_at < CURRENT_NOTICE_TTL
        ):
            return cache.current
    version = session.scalar(select(func.max(Notice.version)))
    if version is None:  # pragma: no cover - the first migration publishes version 1
        raise RuntimeError("no consent notice has been published")
    with cache.lock:
        cache.current, cache.current_read_at = int(version), time.monotonic()
    return int(version)


def notice_languages(session: Session, version: int) -> frozenset[str]:
    """Return the languages a version was published in (none when it does not exist)."""
    cache = _notice_cache(session)
    with cache.lock:
        known = cache.languages.get(version)
    if known is not None:
        return known
    languages = frozenset(
        session.scalars(select(Notice.language).where(Notice.version == version))
    )
    if languages:  # a version not yet published may be published later
        with cache.lock:
            cache.languages[version] = languages
    return languages


def resolve_notice(session: Session, version: int | None, language: str) -> NoticeRef:
    """Return the notice shown: the given version (or the current one) in the language."""
    if version is None:
        version = current_notice_version(session)
    languages = notice_languages(session, version)
    if not languages:
        raise InvalidInput([FieldProblem("notice", f"version {version} does not exist",
                                         "notice_unknown")])
    if language in languages:
        return NoticeRef(version, language)
    return NoticeRef(version, "fi" if "fi" in languages else sorted(languages)[0])


def notice_text(session: Session, ref: NoticeRef) -> str:
    """Return the exact words of a notice."""
    text = session.scalar(
        select(Notice.text).where(Notice.version == ref.version, Notice.language == ref.language)
    )
    return text or ""


def record(
    session: Session,
    contact: Contact,
    channel: str,
    kind: EventKind,
    method: str,
    actor: Actor,
    *,
    now: datetime,
    notice: NoticeRef | None = None,
    evidence: EvidenceData | None = None,
    source: str | None = None,
    witness: str | None = None,
    subscriptions: dict[str, Subscription] | None = None,
    confirmation_sent_at: datetime | None = None,
) -> ConsentEvent:
    """Append one event with its evidence and move the subscription to the state it implies.

    A caller that holds the contact's subscriptions, locked (subscriptions_of), passes them in
    and saves a query; a subscription created here is added to them. confirmation_sent_at marks
    a request whose confirmation message goes out with it. What follows a consent change (the
    mirror, outbound webhooks) is the side-effect table's business: a ConsentChanged is recorded.
    """
    event = _append_event(session, contact, channel, kind, method, actor, now=now,
                          notice=notice, source=source)
    if evidence is not None:
        _append_evidence(session, event, evidence, now=now)
    new_state = STATE_AFTER[kind]
    if new_state is None:
        # The state stays as it is (a bounce); the event still says what it is.
        held = subscriptions.get(channel) if subscriptions is not None else None
        sub = held or session.get(Subscription, (contact.id, channel))
    else:
        state: dict[str, Any] = {
            "state": new_state.value, "since": now, "method": str(method),
            "last_event_id": event.id,
        }
        if notice is not None:
            state["notice_version"] = notice.version
        if kind in (EventKind.GRANTED, EventKind.CONFIRMED, EventKind.REQUESTED):
            state["witness"] = witness
        if confirmation_sent_at is not None:
            state["confirmation_sent_at"] = confirmation_sent_at
        sub = _move_subscription(session, contact, channel, state, subscriptions)
    ledger_rows.touch_contact(session, contact, now)
    domain_events.record(session, ConsentChanged(
        contact_public_id=contact.public_id, channel=channel, kind=event.kind,
        method=event.method, source=event.source, notice_version=event.notice_version,
        occurred_at=now, state=sub.state if sub is not None else None,
        undeliverable=contact.email_undeliverable_at is not None,
    ))
    return event


def _append_event(session: Session, contact: Contact, channel: str, kind: EventKind,
                  method: str, actor: Actor, *, now: datetime, notice: NoticeRef | None,
                  source: str | None) -> ConsentEvent:
    """Insert the event row and return it as the session's object for that row."""
    values: dict[str, Any] = {
        "contact_id": contact.id,
        "channel": channel,
        "kind": kind.value,
        "method": str(method),
        "source": source,
        "actor_type": actor.type.value,
        "actor_id": actor.id,
        "notice_version": notice.version if notice else None,
        "notice_language": notice.language if notice else None,
        "occurred_at": now,
    }
    return ledger_rows.insert_event(session, values)


def _append_evidence(session: Session, event: ConsentEvent, evidence: EvidenceData, *,
                     now: datetime) -> None:
    """Insert what proves the event."""
    ledger_rows.insert_evidence(session, {
        "event_id": event.id,
        "contact_id": event.contact_id,
        "ip": evidence.ip,
        "source_ip": evidence.source_ip,
        "user_agent": (evidence.user_agent or "")[:500] or None,
        "page_url": evidence.page_url,
        "fields_json": json.dumps(evidence.fields, ensure_ascii=False, sort_keys=True)
        if evidence.fields is not None else None,
        "note": evidence.note,
        "recorded_at": now,
    })


def _move_subscription(session: Session, contact: Contact, channel: str, state: dict[str, Any],
                       subscriptions: dict[str, Subscription] | None) -> Subscription:
    """Set the contact's subscription on the channel to the state (created when there is none)."""
    if subscriptions is None:
        sub = subscription(session, contact, channel, lock=True)
    else:
        sub = subscriptions.get(channel)
    if sub is None:
        sub = ledger_rows.insert_subscription(
            session, {"contact_id": contact.id, "channel": channel, **state})
        if subscriptions is not None:
            subscriptions[channel] = sub
    else:
        ledger_rows.update_subscription(session, sub, state)
    return sub

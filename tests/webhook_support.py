"""Helpers for webhook tests: add sources, read what the ledger holds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from service.domain import ledger, sources
from service.domain.ledger import Actor
from service.domain.models import (
    ConsentEvent,
    Contact,
    EventKind,
    Evidence,
    Method,
    OutboxItem,
    Subscription,
)
from service.domain.normalize import parse_email


def add_source(container: Any, name: str, kind: str, **options: Any) -> str | None:
    """Add a source and return its token."""
    issued = sources.add_source(container.uow(), name, kind, now=container.clock.now(), **options)
    return issued.token


def contact(container: Any, email: str) -> Contact | None:
    """Return the contact with this address."""
    with container.session_factory() as session:
        return ledger.find_contact_by_email(session, email.lower())


def states(container: Any, email: str) -> dict[str, str]:
    """Return the contact's subscription state per channel."""
    found = contact(container, email)
    if found is None:
        return {}
    with container.session_factory() as session:
        rows = session.scalars(select(Subscription).where(Subscription.contact_id == found.id))
        return {r.channel: r.state for r in rows}


def events(container: Any) -> list[ConsentEvent]:
    """Return every consent event, oldest first."""
    with container.session_factory() as session:
        return list(session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)))


def evidence_of(container: Any, event_id: int) -> Evidence | None:
    """Return an event's evidence."""
    with container.session_factory() as session:
        return session.scalars(select(Evidence).where(Evidence.event_id == event_id)).first()


def count_contacts(container: Any) -> int:
    """Return how many contacts exist."""
    with container.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(Contact)) or 0)


def queued_mails(container: Any) -> int:
    """Return how many emails are queued."""
    with container.session_factory() as session:
        return int(session.scalar(
            select(func.count()).select_from(OutboxItem).where(OutboxItem.kind == "mail")
        ) or 0)


def subscribed(container: Any, email: str, channels: tuple[str, ...] = ("email",)) -> None:
    """Put a contact on the register (granted at the desk)."""
    now = container.clock.now()
    with container.uow() as uow:
        person, _created = ledger.upsert_contact(uow.session, parse_email(email), name=None,
                                                 phone=None, language="fi", now=now)
        for channel in channels:
            ledger.record(uow.session, person, channel, EventKind.GRANTED,
                          Method.VERBAL_IN_PERSON, Actor.person(), now=now)
        uow.commit()

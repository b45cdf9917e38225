"""Helpers for the unsubscribe and register tests: put people on the register, read the ledger."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from service.domain import apikeys, ledger, links
from service.domain.ledger import Actor
from service.domain.models import (
    AuditEntry,
    ConsentEvent,
    Contact,
    EventKind,
    Evidence,
    Method,
    Subscription,
)
from service.domain.normalize import parse_email


def subscribe(
    container: Any, email: str, *, channels: tuple[str, ...] = ("email",), name: str | None = None,
    phone: str | None = None, language: str = "fi",
) -> str:
    """Grant consent on the channels at once (as staff would) and return the public id."""
    now = container.clock.now()
    with container.uow() as uow:
        contact, _created = ledger.upsert_contact(
            uow.session, parse_email(email), name=name, phone=phone, language=language, now=now
        )
        for channel in channels:
            ledger.record(uow.session, contact, channel, EventKind.GRANTED,
                          Method.VERBAL_IN_PERSON, Actor.person(), now=now,
                          notice=ledger.NoticeRef(1, language))
        public_id = contact.public_id
        uow.commit()
    return public_id


def unsubscribe_path(container: Any, public_id: str, channel: str = "email") -> str:
    """Return the path of a contact's unsubscribe link."""
    url = links.unsubscribe_url(container.deps, public_id, channel)
    return url.removeprefix(container.settings.public_url)


def events(container: Any) -> list[ConsentEvent]:
    """Return every consent event, oldest first."""
    with container.session_factory() as session:
        return list(session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)))


def evidence(container: Any) -> list[Evidence]:
    """Return every evidence row, oldest first."""
    with container.session_factory() as session:
        return list(session.scalars(select(Evidence).order_by(Evidence.id)))


def states(container: Any) -> dict[tuple[str, str], str]:
    """Return each (public id, channel)'s subscription state."""
    with container.session_factory() as session:
        rows = session.execute(
            select(Contact.public_id, Subscription.channel, Subscription.state)
            .join(Subscription, Subscription.contact_id == Contact.id)
        ).all()
    return {(r[0], r[1]): r[2] for r in rows}


def audit_entries(container: Any) -> list[AuditEntry]:
    """Return every audit entry, oldest first."""
    with container.session_factory() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def new_key(container: Any, name: str, role: str = "reader") -> str:
    """Issue an API key and return its secret."""
    return apikeys.create_key(container.uow(), name, role, now=container.clock.now()).secret


def snapshot(container: Any) -> tuple[Any, ...]:
    """Return everything an unsubscribe request could change, to compare before and after."""
    return (
        [(e.id, e.kind, e.channel) for e in events(container)],
        [(e.id, e.note) for e in evidence(container)],
        states(container),
        len(audit_entries(container)),
    )


def bulk_subscribe(container: Any, count: int, prefix: str = "bulk") -> list[str]:
    """Put many email subscribers on the register quickly (state rows only, for volume tests)."""
    import uuid

    now = container.clock.now()
    ids = []
    with container.uow() as uow:
        contacts = []
        for i in range(count):
            contacts.append(Contact(
                public_id=str(uuid.uuid4()), email=f"{prefix}{i}@example.fi",
                email_key=f"{prefix}{i}@example.fi", language="fi", soft_bounces=0,
                created_at=now, updated_at=now,
            ))
        uow.session.add_all(contacts)
        uow.session.flush()
        uow.session.add_all(
            Subscription(contact_id=c.id, channel="email", state="subscribed", since=now,
                         method="import")
            for c in contacts
        )
        ids = [c.public_id for c in contacts]
        uow.commit()
    return ids


def readiness_details(client: Any, container: Any) -> dict[str, Any]:
    """Return /readyz as staff see it (with a reader key): the queue and the mirror too."""
    import secrets

    key = new_key(container, f"health-{secrets.token_hex(4)}")
    answer = client.get("/readyz", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200
    body: dict[str, Any] = answer.get_json()
    return body

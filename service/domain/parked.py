"""Mail no retry will send: what staff see of it, and sending one again once it is put right.

The worker parks a message at once when it can never go as it stands (the mail server does not
accept international addresses, the recipient was refused for good, the message cannot be
built), with a reason a person can act on. Staff see the reason and whose message it was, never
the message itself; once the cause is put right (the provider enables SMTPUTF8, the address is
corrected), "send again" queues it anew.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from service.domain import audit, outbox
from service.domain.actors import Actor
from service.domain.mail import MAIL_KIND
from service.domain.models import Contact, OutboxItem, OutboxStatus
from service.domain.uow import UnitOfWork


@dataclass(frozen=True)
class ParkedMail:
    """One message set aside for good: when it was queued, why it stopped, whose it was."""

    id: int
    queued_at: datetime
    reason: str | None
    attempts: int
    contact_public_id: str | None


def count_parked_mail(uow: UnitOfWork) -> int:
    """Return how many messages are parked."""
    with uow:
        return int(uow.session.scalar(
            select(func.count()).select_from(OutboxItem).where(
                OutboxItem.kind == MAIL_KIND, OutboxItem.status == OutboxStatus.DEAD)
        ) or 0)


def list_parked_mail(uow: UnitOfWork, *, limit: int = 100) -> list[ParkedMail]:
    """Return the parked messages, newest first."""
    with uow:
        rows = uow.session.execute(
            select(OutboxItem.id, OutboxItem.created_at, OutboxItem.last_error,
                   OutboxItem.attempts, Contact.public_id)
            .outerjoin(Contact, Contact.id == OutboxItem.contact_id)
            .where(OutboxItem.kind == MAIL_KIND, OutboxItem.status == OutboxStatus.DEAD)
            .order_by(OutboxItem.id.desc()).limit(limit)
        ).all()
    return [ParkedMail(*row) for row in rows]


def send_again(uow: UnitOfWork, item_id: int, *, now: datetime, actor: Actor,
               ip: str | None = None) -> bool:
    """Queue a parked message again, due now; tell whether it was parked. Audited."""
    with uow:
        session = uow.session
        found = session.execute(
            select(OutboxItem.kind, Contact.public_id)
            .outerjoin(Contact, Contact.id == OutboxItem.contact_id)
            .where(OutboxItem.id == item_id)
        ).first()
        if found is None or found.kind != MAIL_KIND:
            return False
        public_id = found.public_id
        if not outbox.release(session, item_id, now=now):
            return False
        audit.append(session, actor, "mail.send_again", public_id, ip=ip,
                     detail={"outbox_item": item_id}, now=now)
        uow.commit()
    return True

"""The staff overview's figures, read from the register in one short transaction: people per
channel on the register and waiting to confirm, flagged records, mail waiting and parked."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from service.domain import figures, ledger, outbox, rights
from service.domain.ledger import Actor
from service.domain.mail import MAIL_KIND
from service.domain.models import ActorType, Contact, EventKind, Method, OutboxItem, OutboxStatus
from service.domain.normalize import parse_email
from tests.register_support import subscribe

STAFF = Actor(ActorType.STAFF, "1:liisa")


def pending(container: Any, email: str) -> None:
    """Put a person on the register waiting for their confirmation by email."""
    now = container.clock.now()
    with container.uow() as uow:
        contact, _ = ledger.upsert_contact(uow.session, parse_email(email), name=None,
                                           phone=None, language="fi", now=now)
        ledger.record(uow.session, contact, "email", EventKind.REQUESTED, Method.WEB_FORM,
                      Actor.person(), now=now, notice=ledger.NoticeRef(1, "fi"))
        uow.commit()


def test_overview_counts_the_register_per_channel_without_the_erased(container: Any) -> None:
    subscribe(container, "a@example.fi", channels=("email", "sms"), phone="040 111 2222")
    subscribe(container, "b@example.fi")
    leaving = subscribe(container, "c@example.fi")
    rights.erase_contact(container.uow(), container.deps, leaving, STAFF, ip=None)
    pending(container, "d@example.fi")

    read = figures.read_overview(container.uow(), now=container.clock.now())

    assert read.on_register == {"email": 2, "sms": 1}
    assert read.awaiting_confirmation == {"email": 1}
    assert read.flagged == 0


def test_overview_counts_flagged_people_and_mail_waiting_or_parked(container: Any) -> None:
    flagged = subscribe(container, "a@example.fi")
    now = container.clock.now()
    with container.uow() as uow:
        uow.session.execute(update(Contact).where(Contact.public_id == flagged)
                            .values(flagged_reason="disputed_receipt"))
        for key in ("one", "two", "three"):
            outbox.enqueue(uow.session, MAIL_KIND, key, {}, now=now)
        uow.session.execute(update(OutboxItem).where(OutboxItem.idempotency_key == "three")
                            .values(status=OutboxStatus.DEAD.value))
        uow.commit()

    read = figures.read_overview(container.uow(), now=now)

    assert (read.flagged, read.mail_waiting, read.mail_parked) == (1, 2, 1)

"""Side effects of recorded changes are queued in the change's transaction, once each."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from service.domain import ledger
from service.domain.actors import Actor
from service.domain.mirror.queue import MIRROR_KIND
from service.domain.models import EventKind, Method, OutboxItem
from service.domain.normalize import parse_email
from service.domain.webhooks_out.emission import WEBHOOK_EVENT_KIND


def _queued(container: Any, kind: str) -> int:
    with container.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxItem)
                                  .where(OutboxItem.kind == kind)) or 0)


def _grant_both_channels(container: Any, *, commit: bool) -> None:
    now = container.clock.now()
    with container.uow() as uow:
        person, _ = ledger.upsert_contact(uow.session, parse_email("maija@example.fi"),
                                          name=None, phone="040 123 4567", language="fi", now=now)
        for channel in ("email", "sms"):
            ledger.record(uow.session, person, channel, EventKind.GRANTED,
                          Method.VERBAL_IN_PERSON, Actor.person(), now=now)
        if commit:
            uow.commit()


def test_two_consent_changes_queue_one_mirror_pass_and_one_webhook_item(container: Any) -> None:
    _grant_both_channels(container, commit=True)
    assert _queued(container, MIRROR_KIND) == 1
    assert _queued(container, WEBHOOK_EVENT_KIND) == 1


def test_a_change_rolled_back_queues_nothing(container: Any) -> None:
    _grant_both_channels(container, commit=False)
    assert _queued(container, MIRROR_KIND) == 0
    assert _queued(container, WEBHOOK_EVENT_KIND) == 0

"""Coalesced outbox work: many enqueues on one connection keep one pending item per key."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from service.domain import outbox
from service.domain.mirror.queue import MIRROR_COALESCE_KEY, MIRROR_KIND
from service.domain.models import OutboxItem, OutboxStatus

# Coalescing rests on the backend's unique index and ON CONFLICT.
pytestmark = pytest.mark.both_databases

# psycopg prepares a statement on the server after 5 executions on a connection, and
# PostgreSQL may switch a prepared statement to a generic plan after 5 more: twenty goes
# through both on one connection.
ROUNDS = 20


def test_enqueuing_a_coalesced_item_twenty_times_on_one_connection_keeps_one_pending(
    container: Any,
) -> None:
    now = container.clock.now()
    with container.uow() as uow:
        session = uow.session  # one session, one transaction: one connection throughout
        finished = 0
        for round_no in range(1, ROUNDS + 1):
            outbox.enqueue_coalesced(session, MIRROR_KIND, MIRROR_COALESCE_KEY, {},
                                     now=now + timedelta(milliseconds=round_no),
                                     delay=timedelta(seconds=1))
            pending = session.scalars(select(OutboxItem.id).where(
                OutboxItem.coalesce_key == MIRROR_COALESCE_KEY,
                OutboxItem.status == OutboxStatus.PENDING)).all()
            assert len(pending) == 1, f"round {round_no}: one pending pass, not {len(pending)}"
            if round_no % 5 == 0:
                # The pass ran: the next change must queue a fresh one.
                session.execute(update(OutboxItem).where(OutboxItem.id == pending[0])
                                .values(status=OutboxStatus.DONE))
                finished += 1
        uow.commit()
    with container.session_factory() as session:
        statuses = session.scalars(select(OutboxItem.status).where(
            OutboxItem.coalesce_key == MIRROR_COALESCE_KEY)).all()
    assert sorted(statuses) == ["done"] * finished + ["pending"] * (ROUNDS % 5 != 0)

"""The opt-in, the confirmation and the one-click do their database work and no more."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select

from service.domain import ledger, links, optin, unsubscribe
from service.domain.ledger import Actor
from service.domain.models import EventKind, Method, Subscription
from service.domain.optin import RequestContext
from tests.register_support import states, subscribe

pytestmark = pytest.mark.both_databases

PERSON = RequestContext(ip="203.0.113.9", user_agent="Sähköposti/1.0")


@contextmanager
def statements_of(container: Any) -> Iterator[list[str]]:
    """Collect the SQL statements run while the block runs (BEGIN and COMMIT are not ones)."""
    run: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE goes through a cursor
            run.append(" ".join(statement.split()))

    event.listen(container.engine, "before_cursor_execute", note)
    try:
        yield run
    finally:
        event.remove(container.engine, "before_cursor_execute", note)


def opt_in(container: Any, email: str) -> None:
    form = optin.parse_opt_in({"email": email, "consent": True}, default_language="fi")
    optin.request_opt_in(container.uow(), container.deps, form, PERSON)


def confirmation_token(container: Any, email: str) -> str:
    with container.uow() as uow:
        contact = ledger.find_contact_by_email(uow.session, email)
        assert contact is not None
        sub = ledger.subscription(uow.session, contact, "email")
        assert sub is not None
        return links.token(container.deps, links.ConfirmLink(
            contact.public_id, ("email",), sub.last_event_id))


def writes(run: list[str], table: str) -> int:
    return sum(1 for s in run if s.startswith((f"INSERT INTO {table} ", f"UPDATE {table} ")))


def reads(run: list[str], table: str) -> int:
    return sum(1 for s in run if s.startswith("SELECT") and f" FROM {table} " in f"{s} ")


def test_an_opt_in_of_a_new_address_runs_one_statement_per_row_it_writes(
    container: Any,
) -> None:
    opt_in(container, "first@example.fi")  # the notice version is read once, then kept
    with statements_of(container) as run:
        opt_in(container, "maija@example.fi")
    # The contact, the event, its evidence, the subscription, the confirmation mail, the
    # webhook item and the mirror pass: one statement each, nothing read back.
    assert len(run) == 7
    assert [writes(run, t) for t in ("contacts", "consent_events", "evidence",
                                     "subscriptions", "outbox")] == [1, 1, 1, 1, 3]


def test_a_one_click_locks_two_rows_and_writes_what_the_withdrawal_is(container: Any) -> None:
    pid = subscribe(container, "maija@example.fi")
    token = links.token(container.deps, links.UnsubscribeLink(pid, "email"))
    container.clock.advance(days=30)
    with statements_of(container) as run:
        outcome = unsubscribe.withdraw_by_link(container.uow(), container.deps, token, PERSON,
                                               one_click=True)
    assert outcome.changed == ("email",)
    assert (reads(run, "contacts"), reads(run, "subscriptions")) == (1, 1)
    # The event, its evidence, the contact's time of change, the subscription, two outbox items.
    assert len(run) == 8
    assert states(container)[(pid, "email")] == "unsubscribed"


def test_a_confirmation_reads_the_contacts_subscriptions_once_before_its_receipt(
    container: Any,
) -> None:
    opt_in(container, "maija@example.fi")
    token = confirmation_token(container, "maija@example.fi")
    with statements_of(container) as run:
        optin.confirm_opt_in(container.uow(), container.deps, token, PERSON)
    first_write = next(i for i, s in enumerate(run) if s.startswith("INSERT"))
    receipt_starts = next(i for i, s in enumerate(run[first_write:], first_write)
                          if reads([s], "subscriptions"))
    # Before the welcome's receipt reads the record, the use case read its subscriptions once.
    assert reads(run[:receipt_starts], "subscriptions") == 1
    with container.uow() as uow:
        assert uow.session.scalars(select(Subscription.state)).all() == ["subscribed"]


def moved_in_the_transaction(container: Any, pid: str, move: Callable[..., Any]) -> None:
    with container.uow() as uow:
        session = uow.session
        contact = ledger.find_contact(session, pid, lock=True)
        assert contact is not None
        held = ledger.subscriptions_of(session, contact, lock=True)
        move(session, contact, held)
        # Nothing is left for a flush: a later query in the transaction flushes nothing.
        assert not session.dirty
        again = session.execute(
            select(Subscription.state).where(Subscription.contact_id == contact.id)
            .execution_options(populate_existing=False)
        ).scalar_one()
        assert again == held["email"].state
        uow.commit()


def test_a_held_subscription_moved_by_the_ledger_is_what_the_table_holds(
    container: Any,
) -> None:
    pid = subscribe(container, "maija@example.fi")

    def withdraw(session: Any, contact: Any, held: dict[str, Subscription]) -> None:
        ledger.record(session, contact, "email", EventKind.WITHDRAWN, Method.ONE_CLICK,
                      Actor.person(), now=container.clock.now(), subscriptions=held)

    moved_in_the_transaction(container, pid, withdraw)
    assert states(container)[(pid, "email")] == "unsubscribed"


def test_a_subscription_changed_by_hand_first_is_still_written_whole(container: Any) -> None:
    pid = subscribe(container, "maija@example.fi")

    def withdraw_after_a_change(session: Any, contact: Any,
                                held: dict[str, Subscription]) -> None:
        held["email"].witness = "Staff Member"  # waiting for the flush when the ledger moves it
        ledger.record(session, contact, "email", EventKind.WITHDRAWN, Method.ONE_CLICK,
                      Actor.person(), now=container.clock.now(), subscriptions=held)
        session.flush()

    moved_in_the_transaction(container, pid, withdraw_after_a_change)
    with container.uow() as uow:
        sub = uow.session.scalars(select(Subscription)).one()
        assert (sub.state, sub.witness) == ("unsubscribed", "Staff Member")


def test_a_naive_time_is_refused_and_writes_nothing_however_the_row_is_sent(
    container: Any,
) -> None:
    pid = subscribe(container, "maija@example.fi")
    naive = container.clock.now().replace(tzinfo=None)

    def withdraw_at_a_naive_time(session: Any, contact: Any,
                                 held: dict[str, Subscription]) -> None:
        ledger.record(session, contact, "email", EventKind.WITHDRAWN, Method.ONE_CLICK,
                      Actor.person(), now=naive, subscriptions=held)

    with pytest.raises(Exception, match="naive datetime"):
        moved_in_the_transaction(container, pid, withdraw_at_a_naive_time)
    assert states(container)[(pid, "email")] == "subscribed"

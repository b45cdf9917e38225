"""Browsing the audit log: a page at a time, newer and older, by what, who and when."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from service.domain import audit
from service.domain.actors import Actor
from service.domain.models import ActorType


def log(container: Any, clock: Any, actions: list[str], actor: Actor) -> None:
    with container.uow() as uow:
        for action in actions:
            audit.append(uow.session, actor, action, now=clock.now())
            clock.advance(hours=1)
        uow.commit()


def ids(page: audit.AuditPage) -> list[int]:
    return [line.id for line in page.lines]


def test_pages_go_older_and_back_newer_without_losing_or_repeating_an_entry(
    container: Any, clock: Any
) -> None:
    log(container, clock, ["login"] * 7, Actor(ActorType.STAFF, "1:omistaja"))
    first = audit.browse(container.uow(), audit.AuditFilter(), limit=3)
    assert first.newer is None and first.older == ids(first)[-1]
    second = audit.browse(container.uow(), audit.AuditFilter(before=first.older), limit=3)
    third = audit.browse(container.uow(), audit.AuditFilter(before=second.older), limit=3)
    assert len(ids(third)) == 1 and third.older is None and third.newer == ids(third)[0]
    everything = ids(first) + ids(second) + ids(third)
    assert everything == sorted(everything, reverse=True) and len(set(everything)) == 7
    back = audit.browse(container.uow(), audit.AuditFilter(after=third.newer), limit=3)
    assert ids(back) == ids(second) and back.newer == ids(second)[0]


def test_the_filter_keeps_one_action_family_one_actor_and_a_span_of_time(
    container: Any, clock: Any
) -> None:
    start = clock.now()
    log(container, clock, ["login", "login.failed", "staff.create"],
        Actor(ActorType.STAFF, "1:omistaja"))
    log(container, clock, ["login"], Actor(ActorType.STAFF, "2:liisa"))
    by_action = audit.browse(container.uow(), audit.AuditFilter(action="login"))
    assert [line.action for line in by_action.lines] == ["login", "login.failed", "login"]
    by_who = audit.browse(container.uow(), audit.AuditFilter(who="staff:2:liisa"))
    assert [line.actor_id for line in by_who.lines] == ["2:liisa"]
    in_span = audit.browse(container.uow(), audit.AuditFilter(
        since=start + timedelta(hours=1), until=start + timedelta(hours=3)))
    assert [line.action for line in in_span.lines] == ["staff.create", "login.failed"]
    assert ("staff", "2:liisa") in audit.actors(container.uow())

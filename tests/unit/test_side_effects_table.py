"""What follows domain events is looked up in one table and run once per transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from service.domain.domain_events import ConsentChanged, ContactCorrected, ContactErased
from service.domain.side_effects import EVENT_HANDLERS
from service.domain.uow import follow

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _changed(channel: str) -> ConsentChanged:
    return ConsentChanged("c-1", channel, "granted", "verbal_in_person", None, 1, NOW,
                          "subscribed", False)


def test_each_side_effect_runs_once_with_every_event_that_calls_for_it_in_order() -> None:
    calls: list[tuple[str, list[Any]]] = []

    def mirror(_session: Any, events: Sequence[Any]) -> None:
        calls.append(("mirror", list(events)))

    def webhooks(_session: Any, events: Sequence[Any]) -> None:
        calls.append(("webhooks", list(events)))

    table = {ConsentChanged: (webhooks, mirror), ContactErased: (webhooks, mirror)}
    events = [_changed("email"), _changed("sms"), ContactErased("c-1", NOW)]
    follow(object(), events, table)  # type: ignore[arg-type]
    assert calls == [("webhooks", events), ("mirror", events)]


def test_events_with_no_side_effect_table_are_refused_rather_than_dropped() -> None:
    with pytest.raises(RuntimeError, match="without side effects"):
        follow(object(), [_changed("email")], None)  # type: ignore[arg-type]


def test_every_domain_event_has_its_side_effects_and_the_mirror_pass_comes_last() -> None:
    for kind in (ConsentChanged, ContactCorrected, ContactErased):
        effects = EVENT_HANDLERS[kind]
        assert [e.__name__ for e in effects] == ["queue_webhooks", "queue_mirror_pass"]

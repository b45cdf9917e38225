"""A refused API call is audited, but one caller cannot fill the audit log with refusals."""

from __future__ import annotations

from typing import Any

import pytest

from service.domain import apikeys
from service.domain.apikeys import NotAllowed, NotAuthenticated, Role
from tests.register_support import audit_entries, new_key


def refuse(container: Any, secret: str | None, ip: str) -> None:
    with pytest.raises((NotAuthenticated, NotAllowed)):
        apikeys.authorize(container.uow(), secret, Role.STAFF, now=container.clock.now(),
                          ip=ip, action="contact.lookup")


def test_refused_calls_leave_at_most_one_audit_row_per_address_and_key_a_minute(
    container: Any, clock: Any
) -> None:
    reader = new_key(container, "sheet")
    (info,) = apikeys.list_keys(container.uow())
    for _ in range(5):
        refuse(container, "crk_wrong", "192.0.2.1")
    refuse(container, None, "192.0.2.1")
    refuse(container, "crk_wrong", "192.0.2.2")
    for _ in range(3):
        refuse(container, reader, "192.0.2.1")
    clock.advance(seconds=30)
    refuse(container, "crk_wrong", "192.0.2.1")  # still within the minute: no row
    clock.advance(seconds=31)
    refuse(container, "crk_wrong", "192.0.2.1")
    rows = [(e.ip, e.actor_id, e.occurred_at) for e in audit_entries(container)
            if e.action == "api.denied"]
    assert [(ip, actor) for ip, actor, _ in rows] == [
        ("192.0.2.1", None), ("192.0.2.2", None), ("192.0.2.1", f"{info.id}:sheet"),
        ("192.0.2.1", None),
    ]
    assert rows[-1][2] == clock.now()

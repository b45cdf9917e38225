"""contact.updated and contact.erased reach endpoints from the staff pages and retention, queued in
the transaction of the change and carrying personal data only to endpoints allowed it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from service.domain import webhooks_out
from service.domain.retention import apply_retention
from tests.integration.test_webhooks_outbound import Receiver
from tests.staff_support import add_account, login, post_form
from webhooks.outbound import resolve_host

VERBAL = {"name": "Maija Meikäläinen", "email": "maija@example.fi", "phone": "040 123 4567",
          "language": "fi", "channels": ["email"], "method": "in_person", "notice": "1"}


@pytest.fixture
def receivers(container: Any) -> Iterator[tuple[Receiver, Receiver]]:
    """Two loopback endpoints: one told only ids, one allowed personal data."""
    plain, personal = Receiver(), Receiver()
    for server, allowed in ((plain, False), (personal, True)):
        server.now = int(container.clock.now().timestamp())
        _info, server.secret = webhooks_out.add_endpoint(
            container.uow(), server.url, ("contact.updated", "contact.erased",
                                          "consent.withdrawn"),
            now=container.clock.now(), resolve=resolve_host, allow_private=True,
            include_personal_data=allowed)
    yield plain, personal
    plain.stop()
    personal.stop()


def desk(client: Any, container: Any) -> str:
    """Sign in as staff, record a verbal consent and return the contact's id."""
    add_account(container, "liisa")
    assert login(client, "liisa").status_code == 302
    response = post_form(client, "/staff/consents/new", VERBAL)
    assert response.status_code == 302
    return str(response.headers["Location"].rsplit("/", 1)[-1])


def bodies(server: Receiver) -> list[dict[str, Any]]:
    return [r["body"] for r in server.received]


def test_a_correction_sends_contact_updated_naming_the_fields_not_their_values(
    client: Any, container: Any, receivers: tuple[Receiver, Receiver]
) -> None:
    plain, personal = receivers
    public_id = desk(client, container)
    post_form(client, f"/staff/contacts/{public_id}/correct",
              {"name": "Maija Virtanen", "email": "maija.virtanen@example.fi",
               "phone": "040 123 4567", "language": "fi"},
              page=f"/staff/contacts/{public_id}")
    container.worker().drain()
    [told] = bodies(plain)
    assert told["type"] == "contact.updated"
    assert told["data"]["contact_id"] == public_id
    assert sorted(told["data"]["fields"]) == ["email", "name"]
    assert "maija" not in json.dumps(told).lower()
    [allowed] = bodies(personal)
    assert allowed["data"]["email"] == "maija.virtanen@example.fi"
    assert allowed["data"]["name"] == "Maija Virtanen"


def test_saving_a_correction_that_changes_nothing_sends_nothing(
    client: Any, container: Any, receivers: tuple[Receiver, Receiver]
) -> None:
    plain, _personal = receivers
    public_id = desk(client, container)
    post_form(client, f"/staff/contacts/{public_id}/correct",
              {"name": VERBAL["name"], "email": VERBAL["email"], "phone": VERBAL["phone"],
               "language": "fi"}, page=f"/staff/contacts/{public_id}")
    container.worker().drain()
    assert bodies(plain) == []


def test_erasure_sends_contact_erased_and_no_queued_body_keeps_the_address(
    client: Any, container: Any, receivers: tuple[Receiver, Receiver]
) -> None:
    plain, personal = receivers
    public_id = desk(client, container)
    response = post_form(client, f"/staff/contacts/{public_id}/erase", {"confirm": "yes"},
                         page=f"/staff/contacts/{public_id}/erase")
    assert response.status_code == 200
    container.worker().drain()
    for server in (plain, personal):
        assert [b["type"] for b in bodies(server)] == ["consent.withdrawn", "contact.erased"]
        erased = bodies(server)[1]["data"]
        assert erased == {"contact_id": public_id, "erased_at": erased["erased_at"]}
        assert "maija" not in json.dumps(bodies(server)).lower()


def test_retention_of_an_unconfirmed_opt_in_sends_contact_erased(
    client: Any, container: Any, receivers: tuple[Receiver, Receiver]
) -> None:
    plain, _personal = receivers
    assert client.post("/api/v1/subscribe",
                       json={"email": "pekka@example.fi", "consent": True}).status_code == 202
    container.clock.advance(days=31)
    for server in receivers:
        server.now = int(container.clock.now().timestamp())
    report = apply_retention(container.uow(), container.deps, pending_days=30, ip_days=365)
    assert report.pending_removed == 1
    container.worker().drain()
    [told] = bodies(plain)
    assert told["type"] == "contact.erased"
    assert set(told["data"]) == {"contact_id", "erased_at"}

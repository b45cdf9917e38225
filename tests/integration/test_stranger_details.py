"""What someone types into an opt-in reaches neither a record nor a mail until the owner confirms.

An opt-in proves nothing about who owns the address: a stranger can opt anyone in. So the
confirmation mail carries nothing the requester typed but the address, and a name or phone
given with an opt-in lands on a known contact only when the owner confirms that very opt-in.
"""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path
from typing import Any

import pytest

from service.domain import ledger
from service.domain.ledger import Actor
from service.domain.models import EventKind, Method
from tests.register_support import subscribe
from tests.webhook_support import contact

# Which details a known address keeps is decided by the upsert's ON CONFLICT clause.
pytestmark = pytest.mark.both_databases

CONFIRM_LINK = re.compile(r"https://consent\.example\.fi(/confirm/[A-Za-z0-9_.\-]+)")
PHISHING = "Tilisi suljetaan, kirjaudu osoitteessa https://evil.example"


def _mails(container: Any) -> list[Any]:
    container.worker().drain()
    files = sorted(Path(container.settings.outbox_dir).glob("*.eml"))
    return [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]


def _withdraw(container: Any, address: str) -> None:
    with container.uow() as uow:
        person = ledger.find_contact_by_email(uow.session, address)
        assert person is not None
        ledger.record(uow.session, person, "email", EventKind.WITHDRAWN, Method.ONE_CLICK,
                      Actor.person(), now=container.clock.now())
        uow.commit()


def _confirm_path(message: Any) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    found = CONFIRM_LINK.search(text)
    assert found, "the confirmation mail carries a link"
    return found.group(1)


def test_a_strangers_name_and_phone_never_land_on_a_confirmed_record(
    client: Any, container: Any
) -> None:
    subscribe(container, "maija@example.fi")
    answer = client.post("/api/v1/subscribe", json={
        "email": "maija@example.fi", "consent": True, "name": PHISHING,
        "phone": "040 123 4567"})
    assert answer.status_code == 202
    person = contact(container, "maija@example.fi")
    assert person is not None and (person.name, person.phone) == (None, None)


def test_the_confirmation_mail_carries_nothing_the_requester_typed_but_the_address(
    client: Any, container: Any
) -> None:
    client.post("/api/v1/subscribe", json={
        "email": "ville@example.fi", "consent": True, "name": PHISHING})
    [message] = _mails(container)
    assert message["To"].addresses[0].display_name == ""
    assert message["To"].addresses[0].addr_spec == "ville@example.fi"
    for part in message.walk():
        if part.get_content_maintype() == "text":
            assert "evil.example" not in part.get_content()
            assert "Tilisi" not in part.get_content()


def test_the_owner_confirming_their_opt_in_fills_the_missing_name_and_phone(
    client: Any, container: Any
) -> None:
    subscribe(container, "maija@example.fi", channels=("email",))
    # Withdrawn, then asking again with a name: the confirmation applies what this opt-in said.
    _withdraw(container, "maija@example.fi")
    client.post("/api/v1/subscribe", json={
        "email": "maija@example.fi", "consent": True, "name": "Maija Meikäläinen",
        "phone": "040 123 4567"})
    before = contact(container, "maija@example.fi")
    assert before is not None and before.name is None
    [message] = _mails(container)
    assert client.post(_confirm_path(message)).status_code == 200
    after = contact(container, "maija@example.fi")
    assert after is not None
    assert (after.name, after.phone) == ("Maija Meikäläinen", "+358401234567")


def test_a_new_persons_details_are_kept_with_their_confirmed_opt_in(
    client: Any, container: Any
) -> None:
    client.post("/api/v1/subscribe", json={
        "email": "asa@example.se", "consent": True, "name": "Åsa Öberg", "language": "sv"})
    [message] = _mails(container)
    assert client.post(_confirm_path(message)).status_code == 200
    person = contact(container, "asa@example.se")
    assert person is not None and person.name == "Åsa Öberg"


def test_a_name_on_file_is_never_overwritten_by_a_confirmed_opt_in(
    client: Any, container: Any
) -> None:
    subscribe(container, "pekka@example.fi", name="Pekka Virtanen")
    _withdraw(container, "pekka@example.fi")
    client.post("/api/v1/subscribe", json={
        "email": "pekka@example.fi", "consent": True, "name": "Someone Else"})
    [message] = _mails(container)
    client.post(_confirm_path(message))
    person = contact(container, "pekka@example.fi")
    assert person is not None and person.name == "Pekka Virtanen"

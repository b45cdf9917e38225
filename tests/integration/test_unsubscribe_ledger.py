"""The unsubscribe use cases against real SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from service.domain import ledger, links, unsubscribe
from service.domain.apikeys import KeyInfo
from service.domain.ledger import Actor
from service.domain.links import LinkNotUsable
from service.domain.models import ActorType, EventKind, Method, OutboxItem
from service.domain.optin import RequestContext
from tests.register_support import (
    audit_entries,
    events,
    evidence,
    snapshot,
    states,
    subscribe,
)

PERSON = RequestContext(ip="203.0.113.9", user_agent="Sähköposti/1.0")


def token_of(container: Any, public_id: str, channel: str = "email") -> str:
    return links.token(container.deps, links.UnsubscribeLink(public_id, channel))


def withdraw(container: Any, token: str, **kwargs: Any) -> unsubscribe.WithdrawalOutcome:
    kwargs.setdefault("one_click", False)
    return unsubscribe.withdraw_by_link(container.uow(), container.deps, token, PERSON, **kwargs)


def test_viewing_the_link_changes_nothing_and_masks_the_address(container: Any) -> None:
    pid = subscribe(container, "maija@example.fi", channels=("email", "sms"),
                    phone="+358401234567", language="sv")
    before = snapshot(container)
    view = unsubscribe.view_unsubscribe(container.uow(), container.deps, token_of(container, pid))
    assert view == unsubscribe.UnsubscribeView("m***@example.fi", "email", "sv", True, ("sms",))
    assert snapshot(container) == before
    assert states(container)[(pid, "email")] == "subscribed"


def test_one_withdrawal_records_the_method_and_evidence_and_a_repeat_changes_nothing(
    container: Any,
) -> None:
    pid = subscribe(container, "maija@example.fi")
    token = token_of(container, pid)
    first = withdraw(container, token, one_click=True)
    assert first.changed == ("email",)
    second = withdraw(container, token, one_click=True)
    assert second.changed == ()
    withdrawals = [e for e in events(container) if e.kind == EventKind.WITHDRAWN]
    assert len(withdrawals) == 1
    assert withdrawals[0].method == Method.ONE_CLICK
    assert withdrawals[0].actor_type == ActorType.PERSON
    proof = evidence(container)[-1]
    assert (proof.ip, proof.user_agent) == ("203.0.113.9", "Sähköposti/1.0")
    assert states(container)[(pid, "email")] == "unsubscribed"


def test_the_reason_is_kept_with_the_evidence_of_the_withdrawal_not_the_event(
    container: Any,
) -> None:
    pid = subscribe(container, "maija@example.fi")
    token = token_of(container, pid)
    withdraw(container, token)
    unsubscribe.give_reason(container.uow(), container.deps, token, "too_many", "Joka päivä!")
    withdrawal = events(container)[-1]
    proof = [e for e in evidence(container) if e.event_id == withdrawal.id]
    assert proof[0].note == "reason: too_many\nJoka päivä!"


def test_a_reason_without_a_withdrawal_through_the_link_is_not_kept(container: Any) -> None:
    pid = subscribe(container, "maija@example.fi")
    unsubscribe.give_reason(container.uow(), container.deps, token_of(container, pid), "other",
                            "x")
    assert all(e.note is None for e in evidence(container))
    assert states(container)[(pid, "email")] == "subscribed"


def test_leaving_every_channel_withdraws_email_and_sms(container: Any) -> None:
    pid = subscribe(container, "maija@example.fi", channels=("email", "sms"),
                    phone="+358401234567")
    outcome = withdraw(container, token_of(container, pid, "sms"), every_channel=True)
    assert set(outcome.changed) == {"email", "sms"}
    assert outcome.other_channels == ()
    assert states(container)[(pid, "email")] == states(container)[(pid, "sms")] == "unsubscribed"


def test_undo_subscribes_again_as_a_new_consent_by_the_person(container: Any) -> None:
    pid = subscribe(container, "maija@example.fi")
    outcome = withdraw(container, token_of(container, pid))
    assert outcome.undo_token
    undone = unsubscribe.undo_withdrawal(container.uow(), container.deps, outcome.undo_token,
                                         PERSON)
    assert undone.restored == ("email",)
    last = events(container)[-1]
    assert (last.kind, last.method, last.notice_version) == ("granted", "undo_link", 1)
    assert states(container)[(pid, "email")] == "subscribed"
    again = unsubscribe.undo_withdrawal(container.uow(), container.deps, outcome.undo_token,
                                        PERSON)
    assert again.restored == ()
    assert len(events(container)) == 3


def test_undo_expires_after_an_hour(container: Any, clock: Any) -> None:
    pid = subscribe(container, "maija@example.fi")
    outcome = withdraw(container, token_of(container, pid))
    clock.advance(hours=1, seconds=1)
    with pytest.raises(LinkNotUsable) as caught:
        unsubscribe.undo_withdrawal(container.uow(), container.deps, outcome.undo_token or "",
                                    PERSON)
    assert caught.value.reason == "expired"
    assert states(container)[(pid, "email")] == "unsubscribed"


def test_undo_does_not_reverse_a_later_withdrawal_by_staff(container: Any) -> None:
    pid = subscribe(container, "maija@example.fi")
    outcome = withdraw(container, token_of(container, pid))
    unsubscribe.undo_withdrawal(container.uow(), container.deps, outcome.undo_token or "", PERSON)
    request = unsubscribe.parse_withdrawal_request({"contact_id": pid})
    unsubscribe.withdraw_on_request(container.uow(), container.deps, request,
                                    Actor(ActorType.STAFF, "anna"), ip=None)
    restored = unsubscribe.undo_withdrawal(container.uow(), container.deps,
                                           outcome.undo_token or "", PERSON)
    assert restored.restored == ()
    assert states(container)[(pid, "email")] == "unsubscribed"


def test_the_unsubscribe_token_never_subscribes_and_the_undo_token_never_unsubscribes(
    container: Any,
) -> None:
    pid = subscribe(container, "maija@example.fi")
    token = token_of(container, pid)
    outcome = withdraw(container, token)
    with pytest.raises(LinkNotUsable):
        unsubscribe.undo_withdrawal(container.uow(), container.deps, token, PERSON)
    with pytest.raises(LinkNotUsable):
        withdraw(container, outcome.undo_token or "")
    assert states(container)[(pid, "email")] == "unsubscribed"


def test_an_erased_contacts_link_is_as_unknown_as_a_forged_one(container: Any) -> None:
    pid = subscribe(container, "maija@example.fi")
    with container.uow() as uow:
        contact = ledger.find_contact(uow.session, pid)
        assert contact is not None
        contact.erased_at = container.clock.now()
        uow.commit()
    with pytest.raises(LinkNotUsable) as caught:
        unsubscribe.view_unsubscribe(container.uow(), container.deps, token_of(container, pid))
    assert caught.value.language is None


def test_send_my_link_mails_only_addresses_on_the_register_and_once_per_window(
    container: Any, clock: Any,
) -> None:
    subscribe(container, "maija@example.fi")
    pid = subscribe(container, "pekka@example.fi")
    withdraw(container, token_of(container, pid))

    def mails() -> list[OutboxItem]:
        with container.session_factory() as session:
            return list(session.scalars(select(OutboxItem).where(OutboxItem.kind == "mail")))

    for address in ("MAIJA@example.fi", "maija@example.fi", "pekka@example.fi",
                    "nobody@example.fi"):
        unsubscribe.send_my_link(container.uow(), container.deps, address)
    assert len(mails()) == 1
    assert "/unsubscribe/" in mails()[0].payload_json
    clock.advance(minutes=11)
    unsubscribe.send_my_link(container.uow(), container.deps, "maija@example.fi")
    assert len(mails()) == 2


def test_withdrawal_on_request_records_the_key_as_actor_and_audits_by_id(container: Any) -> None:
    pid = subscribe(container, "maija@example.fi", channels=("email", "sms"),
                    phone="+358401234567")
    key = KeyInfo(3, "crm", "staff", "crk_", container.clock.now(), None, None)
    request = unsubscribe.parse_withdrawal_request(
        {"email": "Maija@Example.fi", "channels": ["sms"], "reason": "soitti vastaanottoon"})
    unsubscribe.withdraw_on_request(container.uow(), container.deps, request, key.actor,
                                    ip="198.51.100.4")
    last = events(container)[-1]
    assert (last.kind, last.channel, last.method) == ("withdrawn", "sms", "staff_on_request")
    assert (last.actor_type, last.actor_id) == ("api_key", "3:crm")
    assert evidence(container)[-1].note == "soitti vastaanottoon"
    assert states(container)[(pid, "email")] == "subscribed"
    entry = audit_entries(container)[-1]
    assert (entry.action, entry.contact_public_id, entry.ip) == (
        "withdrawal.request", pid, "198.51.100.4")
    assert "@" not in (entry.detail_json or "")


def test_withdrawal_of_an_unknown_address_answers_alike_and_changes_nothing(
    container: Any,
) -> None:
    request = unsubscribe.parse_withdrawal_request({"email": "nobody@example.fi"})
    key = KeyInfo(3, "crm", "staff", "crk_", container.clock.now(), None, None)
    answer = unsubscribe.withdraw_on_request(container.uow(), container.deps, request, key.actor,
                                             ip=None)
    assert answer == ("email", "sms")
    assert events(container) == []
    assert audit_entries(container)[-1].contact_public_id is None


def test_a_failure_on_a_personal_link_answers_500_logs_the_route_not_the_token_and_writes_nothing(
    client: Any, container: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy import text

    public_id = subscribe(container, "maija@example.fi")
    token = token_of(container, public_id)
    with container.engine.begin() as conn:  # the evidence table goes missing
        conn.execute(text("ALTER TABLE evidence RENAME TO evidence_gone"))
    try:
        answer = client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    finally:
        with container.engine.begin() as conn:
            conn.execute(text("ALTER TABLE evidence_gone RENAME TO evidence"))
    assert answer.status_code == 500
    assert "Traceback" not in answer.get_data(as_text=True)
    assert "unexpected error on POST /unsubscribe/<token>" in caplog.text
    assert token not in caplog.text
    assert states(container) == {(public_id, "email"): "subscribed"}
    # Nor the personal data an SQL error would otherwise carry in its parameters.
    assert "127.0.0.1" not in caplog.text and "maija" not in caplog.text

"""The register query and API keys against real SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from service.domain import apikeys, audit, ledger, register, unsubscribe
from service.domain.apikeys import NotAllowed, NotAuthenticated, Role
from service.domain.ledger import Actor
from service.domain.models import ActorType, EventKind, Method
from service.domain.normalize import InvalidInput
from service.domain.optin import RequestContext
from tests.register_support import audit_entries, new_key, subscribe, unsubscribe_path


def on_register(container: Any, channel: str | None = None) -> list[str]:
    with container.uow() as uow:
        return [e.public_id for e in register.read_batch(uow.session, channel=channel)]


def test_register_holds_subscribed_deliverable_live_contacts_only(container: Any) -> None:
    mailed = subscribe(container, "a@example.fi")
    texted = subscribe(container, "b@example.fi", channels=("sms",), phone="+358401234567")
    bounced = subscribe(container, "c@example.fi")
    erased = subscribe(container, "d@example.fi")
    withdrawn = subscribe(container, "e@example.fi")
    with container.uow() as uow:
        for pid, field in ((bounced, "email_undeliverable_at"), (erased, "erased_at")):
            contact = ledger.find_contact(uow.session, pid)
            setattr(contact, field, container.clock.now())
        uow.commit()
    token = unsubscribe_path(container, withdrawn).rsplit("/", 1)[1]
    unsubscribe.withdraw_by_link(container.uow(), container.deps, token, RequestContext(),
                                 one_click=True)
    assert on_register(container) == [mailed, texted]
    assert on_register(container, "email") == [mailed]
    assert on_register(container, "sms") == [texted]


def test_each_entry_carries_both_channels_state_for_the_mirror(container: Any) -> None:
    subscribe(container, "a@example.fi", channels=("email", "sms"), phone="+358401234567",
              name="Aino")
    with container.uow() as uow:
        (entry,) = register.read_batch(uow.session)
    assert entry.name == "Aino" and entry.phone == "+358401234567"
    assert entry.email_consent.state == entry.sms_consent.state == "subscribed"
    assert entry.email_consent.method == "verbal_in_person"
    assert entry.email_consent.since == container.clock.now()


@pytest.mark.both_databases
def test_pages_are_stable_while_new_opt_ins_arrive(container: Any) -> None:
    first_five = [subscribe(container, f"p{i}@example.fi") for i in range(5)]
    page = register.read_page(container.uow(), container.deps,
                              register.parse_query("email", None, "3"))
    assert [r.contact_id for r in page.recipients] == first_five[:3]
    late = [subscribe(container, f"late{i}@example.fi") for i in range(2)]
    rest = register.read_page(container.uow(), container.deps,
                              register.parse_query("email", page.next_cursor, "3"))
    assert [r.contact_id for r in rest.recipients] == [*first_five[3:], late[0]]
    end = register.read_page(container.uow(), container.deps,
                             register.parse_query("email", rest.next_cursor, "3"))
    assert [r.contact_id for r in end.recipients] == late[1:]
    assert end.next_cursor is None


@pytest.mark.both_databases
def test_the_whole_register_streams_in_batches(container: Any) -> None:
    ids = [subscribe(container, f"s{i}@example.fi") for i in range(7)]
    batches = list(register.stream_recipients(
        container.uow, container.deps, register.parse_query("email", None, None), batch=3))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [r.contact_id for b in batches for r in b] == ids


def test_a_key_is_shown_once_and_stored_only_as_its_hash(container: Any) -> None:
    issued = apikeys.create_key(container.uow(), "Uutiskirjetyökalu", "reader",
                                now=container.clock.now())
    assert issued.secret.startswith("crk_") and len(issued.secret) >= 40
    with container.session_factory() as session:
        from sqlalchemy import text

        stored = session.execute(text("SELECT key_hash, prefix FROM api_keys")).one()
    assert stored[0] == apikeys.hash_key(issued.secret)
    assert issued.secret not in stored[0]
    assert [k.name for k in apikeys.list_keys(container.uow())] == ["Uutiskirjetyökalu"]


def test_key_names_are_unique(container: Any) -> None:
    new_key(container, "crm")
    with pytest.raises(InvalidInput):
        new_key(container, "crm", "staff")


def test_authorize_tells_unknown_revoked_and_too_low_keys_apart(container: Any) -> None:
    reader = new_key(container, "reader")
    staff = new_key(container, "staff", "staff")
    revoked = new_key(container, "old")
    apikeys.revoke_key(container.uow(), "old", now=container.clock.now())

    def check(secret: str | None, role: Role) -> apikeys.KeyInfo:
        return apikeys.authorize(container.uow(), secret, role, now=container.clock.now(),
                                 ip="192.0.2.1", action="register.read")

    with pytest.raises(NotAuthenticated):
        check(None, Role.READER)
    with pytest.raises(NotAuthenticated):
        check(reader + "x", Role.READER)
    with pytest.raises(NotAllowed) as caught:
        check(revoked, Role.READER)
    assert caught.value.reason == "revoked"
    with pytest.raises(NotAllowed) as caught:
        check(reader, Role.STAFF)
    assert caught.value.reason == "role"
    assert check(staff, Role.READER).name == "staff"
    check(reader, Role.READER)
    keys = {k.name: k for k in apikeys.list_keys(container.uow())}
    assert keys["reader"].last_used_at == container.clock.now()
    actions = [(e.action, e.actor_id, e.ip) for e in audit_entries(container)
               if e.action.startswith(("api.", "register."))]
    # No key and an unknown key from one address within a minute are one refusal row
    # (refusals are recorded at most once a minute per address and key).
    assert [a[0] for a in actions] == ["api.denied"] * 3 + ["register.read"] * 2
    assert actions[-1] == ("register.read", f"{keys['reader'].id}:reader", "192.0.2.1")


def test_revoking_by_id_works_and_an_unknown_key_is_named(container: Any) -> None:
    new_key(container, "crm")
    (key,) = apikeys.list_keys(container.uow())
    assert apikeys.revoke_key(container.uow(), str(key.id), now=container.clock.now()).revoked_at
    with pytest.raises(InvalidInput):
        apikeys.revoke_key(container.uow(), "nope", now=container.clock.now())


def test_audit_entries_never_hold_an_address(container: Any) -> None:
    with container.uow() as uow, pytest.raises(ValueError, match="never by address"):
        audit.append(uow.session, Actor(ActorType.SYSTEM), "x",
                     detail={"who": ["maija@example.fi"]}, now=container.clock.now())


def test_a_withdrawn_contact_leaves_the_register_at_once(container: Any) -> None:
    pid = subscribe(container, "a@example.fi")
    with container.uow() as uow:
        contact = ledger.find_contact(uow.session, pid)
        assert contact is not None
        ledger.record(uow.session, contact, "email", EventKind.WITHDRAWN, Method.ONE_CLICK,
                      Actor.person(), now=container.clock.now())
        uow.commit()
    assert on_register(container) == []

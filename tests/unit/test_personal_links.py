"""Personal links: each kind reads back as signed, only as itself, untampered, in its lifetime.

Links already sent were signed as plain payloads with short keys; they must keep working.
"""

from __future__ import annotations

from typing import Any

import pytest

from service.domain import links
from service.domain.dependencies import Deps, Practice
from service.domain.links import (
    ConfirmLink,
    DisputeLink,
    LinkNotUsable,
    UndoLink,
    UnsubscribeLink,
)
from service.domain.tokens import Purpose, TokenService
from tests.conftest import FakeClock

PERSON = "3f0c1a52-8d1e-4c53-9d3b-0d1d6f3f9a11"
EVERY_KIND: list[Any] = [
    UnsubscribeLink(PERSON, "sms"),
    ConfirmLink(PERSON, ("email", "sms"), requested_event_id=41),
    UndoLink(PERSON, (7, 8)),
    DisputeLink(PERSON, (3,)),
]


def deps(clock: FakeClock | None = None, keys: tuple[str, ...] = ("key-one-0123456789",)) -> Deps:
    practice = Practice(organization="Kiropraktikko Testi", public_url="https://consent.example.fi",
                        mail_from="uutiskirje@klinikka.example.fi", privacy_url=None,
                        unsubscribe_mailto=None, double_opt_in=True, default_language="fi")
    clock = clock or FakeClock()
    return Deps(clock=clock, tokens=TokenService(list(keys), clock), practice=practice)


def refusal(read: Any) -> str:
    with pytest.raises(LinkNotUsable) as caught:
        read()
    return caught.value.reason


@pytest.mark.parametrize("link", EVERY_KIND, ids=lambda link: type(link).__name__)
def test_each_kind_of_link_reads_back_as_it_was_signed(link: Any) -> None:
    service = deps()
    assert links.read(service, type(link), links.token(service, link)) == link


@pytest.mark.parametrize("link", EVERY_KIND, ids=lambda link: type(link).__name__)
def test_a_link_is_addressed_at_its_purpose_on_the_public_url(link: Any) -> None:
    service = deps()
    address = links.url(service, link)
    prefix = f"https://consent.example.fi/{link.PURPOSE.value}/"
    assert address.startswith(prefix)
    assert links.read(service, type(link), address.removeprefix(prefix)) == link


@pytest.mark.parametrize("link", EVERY_KIND, ids=lambda link: type(link).__name__)
def test_a_link_of_one_kind_never_acts_as_another(link: Any) -> None:
    service = deps()
    token = links.token(service, link)
    for other in EVERY_KIND:
        if type(other) is not type(link):
            assert refusal(lambda o=other: links.read(service, type(o), token)) == "invalid"


@pytest.mark.parametrize("link", EVERY_KIND, ids=lambda link: type(link).__name__)
def test_a_tampered_or_foreign_link_is_refused_as_invalid(link: Any) -> None:
    service = deps()
    token = links.token(service, link)
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    foreign = links.token(deps(keys=("another-key-0123456789",)), link)
    for bad in (tampered, token[:-4], foreign, "", "not-a-token"):
        assert refusal(lambda b=bad: links.read(service, type(link), b)) == "invalid"


def test_a_link_signed_before_key_rotation_still_reads() -> None:
    clock = FakeClock()
    old = links.token(deps(clock, ("old-key-0123456789",)), UnsubscribeLink(PERSON, "email"))
    rotated = deps(clock, ("old-key-0123456789", "new-key-0123456789"))
    assert links.read(rotated, UnsubscribeLink, old) == UnsubscribeLink(PERSON, "email")


def test_a_confirmation_link_expires_after_seven_days() -> None:
    clock = FakeClock()
    service = deps(clock)
    token = links.token(service, ConfirmLink(PERSON, ("email",), requested_event_id=1))
    clock.advance(days=6, hours=23)
    assert links.read(service, ConfirmLink, token).contact_id == PERSON
    clock.advance(hours=2)
    assert refusal(lambda: links.read(service, ConfirmLink, token)) == "expired"


def test_an_undo_link_expires_after_an_hour_as_the_undo_window_does() -> None:
    clock = FakeClock()
    service = deps(clock)
    token = links.token(service, UndoLink(PERSON, (7,)))
    clock.advance(minutes=59)
    assert links.read(service, UndoLink, token).withdrawal_event_ids == (7,)
    clock.advance(minutes=2)
    assert refusal(lambda: links.read(service, UndoLink, token)) == "expired"
    assert links.UNDO_WINDOW.total_seconds() == 3600


def test_unsubscribe_and_dispute_links_never_expire() -> None:
    clock = FakeClock()
    service = deps(clock)
    unsubscribe = links.token(service, UnsubscribeLink(PERSON, "email"))
    dispute = links.token(service, DisputeLink(PERSON, (3,)))
    clock.advance(days=3650)
    assert links.read(service, UnsubscribeLink, unsubscribe).channel == "email"
    assert links.read(service, DisputeLink, dispute).consent_event_ids == (3,)


def test_links_already_sent_with_short_keys_still_read() -> None:
    service = deps()
    sent = service.tokens.sign
    assert links.read(service, UnsubscribeLink, sent(
        Purpose.UNSUBSCRIBE, {"c": PERSON, "ch": "email"})) == UnsubscribeLink(PERSON, "email")
    assert links.read(service, ConfirmLink, sent(
        Purpose.CONFIRM, {"c": PERSON, "r": 5, "ch": ["email"]})) == \
        ConfirmLink(PERSON, ("email",), requested_event_id=5)
    assert links.read(service, UndoLink, sent(
        Purpose.RESUBSCRIBE, {"c": PERSON, "e": [1, 2]})) == UndoLink(PERSON, (1, 2))
    assert links.read(service, DisputeLink, sent(
        Purpose.DISPUTE, {"c": PERSON, "e": [9]})) == DisputeLink(PERSON, (9,))


def test_the_wire_format_of_new_links_is_the_one_already_sent() -> None:
    # Old releases read these payloads: a rollback must still honour links sent meanwhile.
    assert UnsubscribeLink(PERSON, "sms").wire() == {"c": PERSON, "ch": "sms"}
    assert ConfirmLink(PERSON, ("email",), 5).wire() == {"c": PERSON, "r": 5, "ch": ["email"]}
    assert UndoLink(PERSON, (1, 2)).wire() == {"c": PERSON, "e": [1, 2]}
    assert DisputeLink(PERSON, (9,)).wire() == {"c": PERSON, "e": [9]}


def test_an_old_confirmation_link_without_its_opt_in_event_still_confirms() -> None:
    service = deps()
    token = service.tokens.sign(Purpose.CONFIRM, {"c": PERSON, "ch": ["email", "fax"]})
    assert links.read(service, ConfirmLink, token) == ConfirmLink(PERSON, ("email",), None)


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        (UnsubscribeLink, {"c": PERSON, "ch": "fax"}),
        (UnsubscribeLink, {"ch": "email"}),
        (ConfirmLink, {"c": PERSON, "ch": "email"}),
        (UndoLink, {"c": PERSON, "e": [True]}),
        (DisputeLink, {"c": 7, "e": [1]}),
        (DisputeLink, {"c": PERSON, "e": "1"}),
    ],
)
def test_a_genuine_link_whose_fields_make_no_sense_is_invalid(
    kind: Any, payload: dict[str, Any]
) -> None:
    service = deps()
    token = service.tokens.sign(kind.PURPOSE, payload)
    assert refusal(lambda: links.read(service, kind, token)) == "invalid"

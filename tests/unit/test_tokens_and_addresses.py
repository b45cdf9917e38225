"""Tokens are purpose-scoped and survive key rotation; addresses match by a normalised key."""

from __future__ import annotations

import pytest

from service.domain.normalize import InvalidInput, mask_email, parse_email, parse_phone
from service.domain.tokens import ExpiredToken, InvalidToken, Purpose, TokenService
from tests.conftest import FakeClock


def test_token_of_one_purpose_never_acts_as_another() -> None:
    tokens = TokenService(["key-one-0123456789"], FakeClock())
    token = tokens.sign(Purpose.CONFIRM, {"c": "abc"})
    assert tokens.verify(Purpose.CONFIRM, token) == {"c": "abc"}
    with pytest.raises(InvalidToken):
        tokens.verify(Purpose.UNSUBSCRIBE, token)


def test_token_signed_before_key_rotation_still_verifies() -> None:
    clock = FakeClock()
    old = TokenService(["old-key-0123456789"], clock).sign(Purpose.UNSUBSCRIBE, {"c": "x"})
    rotated = TokenService(["old-key-0123456789", "new-key-0123456789"], clock)
    assert rotated.verify(Purpose.UNSUBSCRIBE, old) == {"c": "x"}
    fresh = rotated.sign(Purpose.UNSUBSCRIBE, {"c": "x"})
    with pytest.raises(InvalidToken):
        TokenService(["old-key-0123456789"], clock).verify(Purpose.UNSUBSCRIBE, fresh)


def test_confirmation_token_expires_after_seven_days() -> None:
    clock = FakeClock()
    tokens = TokenService(["key-one-0123456789"], clock)
    token = tokens.sign(Purpose.CONFIRM, {"c": "x"})
    clock.advance(days=6, hours=23)
    assert tokens.verify(Purpose.CONFIRM, token)
    clock.advance(hours=2)
    with pytest.raises(ExpiredToken):
        tokens.verify(Purpose.CONFIRM, token)


def test_address_key_is_trimmed_and_lower_cased_without_provider_tricks() -> None:
    address = parse_email("  Maija.Meikalainen+uutiset@GMail.com ")
    assert address.display == "Maija.Meikalainen+uutiset@GMail.com"
    assert address.key == "maija.meikalainen+uutiset@gmail.com"


def test_invalid_address_names_the_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_email("maija@")
    assert caught.value.problems[0].field == "email"


def test_finnish_numbers_become_e164() -> None:
    assert parse_phone("040 123 4567") == "+358401234567"
    assert parse_phone("+46 70 123 45 67") == "+46701234567"


def test_masked_address_shows_only_first_letter_and_domain() -> None:
    assert mask_email("maija@example.fi") == "m***@example.fi"

"""Rules of the register API and the unsubscribe flow that need no database."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from service.domain import apikeys, register, unsubscribe
from service.domain.dependencies import Deps, Practice
from service.domain.normalize import InvalidInput
from service.domain.register import ChannelState, RegisterEntry
from service.domain.tokens import TokenService


class StillClock:
    def now(self) -> datetime:
        return datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def deps(public_url: str = "https://consent.example.fi", mailto: str | None = None) -> Deps:
    practice = Practice("Klinikka", public_url, "noreply@example.fi", None, mailto, True, "fi")
    return Deps(StillClock(), TokenService(["k" * 20], StillClock()), practice)


def entry(**overrides: object) -> RegisterEntry:
    subscribed = ChannelState("subscribed", StillClock().now(), "web_form", None, 1)
    values: dict[str, object] = dict(
        id=7, public_id="c-7", name="=HYPERLINK(\"x\")", email="-maija@example.fi",
        phone="+358401234567", language="fi", email_deliverable=True,
        email_consent=subscribed, sms_consent=subscribed,
    )
    values.update(overrides)
    return RegisterEntry(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["=1+1", "+358", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_cells_that_a_spreadsheet_would_run_are_made_text(value: str) -> None:
    assert register.spreadsheet_safe(value) == "'" + value


@pytest.mark.parametrize("value", ["Maija", "maija@example.fi", "", "1=1", "<https://x>"])
def test_ordinary_cells_are_left_as_they_are(value: str) -> None:
    assert register.spreadsheet_safe(value) == value


def test_csv_row_of_an_email_recipient_carries_link_and_both_headers_made_safe() -> None:
    item = register.recipient(deps(), entry(), "email")
    row = register.csv_row(item)
    fields = register.CSV_FIELDS["email"]
    record = dict(zip(fields, row, strict=True))
    assert record["name"] == "'=HYPERLINK(\"x\")"
    assert record["email"] == "'-maija@example.fi"
    assert record["unsubscribe_url"].startswith("https://consent.example.fi/unsubscribe/")
    assert record["list_unsubscribe"] == f"<{record['unsubscribe_url']}>"
    assert record["list_unsubscribe_post"] == "List-Unsubscribe=One-Click"


def test_one_click_header_is_offered_only_for_https_links() -> None:
    item = register.recipient(deps(public_url="http://127.0.0.1:8000"), entry(), "email")
    assert item.list_unsubscribe_post is None
    assert item.list_unsubscribe == f"<{item.unsubscribe_url}>"


def test_mailto_stands_beside_the_https_link_when_configured() -> None:
    item = register.recipient(deps(mailto="pois@example.fi"), entry(), "email")
    assert item.list_unsubscribe == (
        f"<{item.unsubscribe_url}>, <mailto:pois@example.fi?subject=unsubscribe>"
    )


def test_sms_recipient_has_phone_and_link_but_no_mail_headers() -> None:
    record = register.as_record(register.recipient(deps(), entry(), "sms"))
    assert record["phone"] == "+358401234567"
    assert "email" not in record and "list_unsubscribe" not in record
    assert "/unsubscribe/" in (record["unsubscribe_url"] or "")


def test_undeliverable_address_may_not_be_mailed_but_sms_still_may() -> None:
    item = entry(email_deliverable=False)
    assert not item.may_contact("email")
    assert item.may_contact("sms")


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("fax", None, None), "channel"),
        (("email", "abc", None), "cursor"),
        (("email", None, "0"), "limit"),
        (("email", None, "1001"), "limit"),
    ],
)
def test_bad_register_parameters_are_named(args: tuple[str, str, str], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        register.parse_query(*args)
    assert [p.field for p in caught.value.problems] == [field]


def test_register_query_defaults_to_email_from_the_start() -> None:
    assert register.parse_query(None, None, None) == register.RegisterQuery("email", 0, 100)


def test_bearer_secret_is_read_only_from_a_bearer_header() -> None:
    assert apikeys.bearer_secret("Bearer crk_abc") == "crk_abc"
    assert apikeys.bearer_secret("bearer  crk_abc ") == "crk_abc"
    assert apikeys.bearer_secret("Basic dXNlcjpwYXNz") is None
    assert apikeys.bearer_secret("Bearer ") is None
    assert apikeys.bearer_secret(None) is None


def test_keys_are_stored_as_sha256_hex() -> None:
    assert apikeys.hash_key("crk_x") == hashlib.sha256(b"crk_x").hexdigest()


def test_withdrawal_request_needs_exactly_one_of_email_and_contact_id() -> None:
    with pytest.raises(InvalidInput):
        unsubscribe.parse_withdrawal_request({})
    with pytest.raises(InvalidInput):
        unsubscribe.parse_withdrawal_request({"email": "a@example.fi", "contact_id": "x"})
    request = unsubscribe.parse_withdrawal_request({"email": "a@example.fi"})
    assert request.channels == ("email", "sms")


def test_withdrawal_request_names_bad_channels_and_addresses() -> None:
    with pytest.raises(InvalidInput) as caught:
        unsubscribe.parse_withdrawal_request({"email": "not an address", "channels": ["fax"]})
    assert {p.field for p in caught.value.problems} == {"email", "channels"}


def test_a_reason_must_be_one_of_the_offered_ones() -> None:
    assert unsubscribe.parse_reason(None, "  liian   usein ") == ("other", "liian usein")
    assert unsubscribe.parse_reason("too_many", "") == ("too_many", None)
    with pytest.raises(InvalidInput):
        unsubscribe.parse_reason("hacked", None)


def test_phone_numbers_are_masked() -> None:
    assert unsubscribe.mask_phone("+358401234567") == "+358 *** **67"

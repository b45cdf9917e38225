"""The rules of an opt-in form and of `channels` fields, read without a database or HTTP.

The answers these rules give over HTTP (422 naming the fields, nothing written) are proven once
per answer shape in tests/integration/test_optin_rules.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from service.domain import unsubscribe, verbal
from service.domain.channels import CHANNELS, ChannelsProblem, read_channels
from service.domain.normalize import InvalidInput
from service.domain.optin import parse_opt_in

GOOD = {"email": "maija@example.fi", "consent": True}


def problems_of(body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        parse_opt_in(body, default_language="fi")
    return {p.field: p.problem for p in caught.value.problems}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"consent": True}, "email"),
        ({"email": "", "consent": True}, "email"),
        ({"email": "not-an-address", "consent": True}, "email"),
        ({"email": "a" * 250 + "@example.fi", "consent": True}, "email"),
        ({"email": "maija@example.fi"}, "consent"),
        ({"email": "maija@example.fi", "consent": False}, "consent"),
        ({**GOOD, "name": "x" * 201}, "name"),
        ({**GOOD, "language": "de"}, "language"),
        ({**GOOD, "phone": "12"}, "phone"),
        ({**GOOD, "channels": ["email", "fax"]}, "channels"),
        ({**GOOD, "channels": ["sms"]}, "phone"),
        ({**GOOD, "notice": "first"}, "notice"),
        ({**GOOD, "page_url": "javascript:alert(1)"}, "page_url"),
        ({**GOOD, "page_url": "https://x.fi/" + "a" * 2001}, "page_url"),
        ({**GOOD, "email": ["maija@example.fi"]}, "email"),
    ],
)
def test_an_invalid_opt_in_names_the_field_at_fault(body: dict[str, Any], field: str) -> None:
    assert field in problems_of(body)


def test_an_opt_in_names_every_field_at_fault_at_once() -> None:
    fields = problems_of({"email": "nope", "phone": "12", "language": "de"})
    assert set(fields) == {"email", "phone", "language", "consent"}
    assert fields["consent"] == "must be ticked (true or on) to subscribe"


@pytest.mark.parametrize(
    ("channels", "chosen"),
    [
        (None, ("email",)),
        ("", ("email",)),
        ([], ("email",)),
        ("sms, Email", ("sms", "email")),
        ("email sms email", ("email", "sms")),
        ([" SMS ", "email"], ("sms", "email")),
    ],
)
def test_a_website_form_names_channels_as_people_type_them_and_email_by_default(
    channels: Any, chosen: tuple[str, ...]
) -> None:
    form = parse_opt_in({**GOOD, "phone": "040 123 4567", "channels": channels},
                        default_language="fi")
    assert form.channels == chosen


@pytest.mark.parametrize(
    ("channels", "problem"),
    [
        (["email", "fax"], "may contain only email and sms"),
        ([1], "may contain only email and sms"),
        ({"email": True}, "must be a list of email and/or sms"),
        (7, "must be a list of email and/or sms"),
    ],
)
def test_an_opt_in_tells_unknown_channels_from_a_field_that_is_not_a_list(
    channels: Any, problem: str
) -> None:
    assert problems_of({**GOOD, "channels": channels})["channels"] == problem


def test_a_regional_language_tag_is_read_as_its_language() -> None:
    assert parse_opt_in({**GOOD, "language": "sv-FI"}, default_language="fi").language == "sv"
    assert parse_opt_in(GOOD, default_language="en").language == "en"


def test_a_number_typed_as_a_number_is_read_as_text_on_a_website_form() -> None:
    form = parse_opt_in({**GOOD, "phone": 401234567}, default_language="fi")
    assert form.phone == "+358401234567"


def test_staff_and_programs_name_channels_exactly_and_get_them_in_channel_order() -> None:
    assert read_channels(["sms", "email", "sms"]).channels == ("sms", "email")
    assert read_channels("email").channels == ("email",)
    assert read_channels("email,sms").problem is ChannelsProblem.UNKNOWN_CHANNEL
    assert read_channels(["Email"]).problem is ChannelsProblem.UNKNOWN_CHANNEL
    assert read_channels([]).problem is ChannelsProblem.NONE_CHOSEN
    assert read_channels({"email": 1}).problem is ChannelsProblem.NOT_A_LIST
    consent = verbal.parse_verbal_consent(
        {"email": "maija@example.fi", "phone": "040 123 4567", "channels": ["sms", "email"],
         "method": "phone"}, default_language="fi")
    assert consent.channels == CHANNELS


@pytest.mark.parametrize(
    ("channels", "problem"),
    [
        (None, "choose at least one: email, sms"),
        ("", "choose at least one: email, sms"),
        (["fax"], "may contain only email and sms"),
        ({"email": 1}, "may contain only email and sms"),
    ],
)
def test_a_verbal_consent_words_its_channel_problems_as_before(channels: Any, problem: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        verbal.parse_verbal_consent({"email": "maija@example.fi", "channels": channels,
                                     "method": "in_person"}, default_language="fi")
    assert {p.field: p.problem for p in caught.value.problems}["channels"] == problem


@pytest.mark.parametrize("channels", [[], "", ["fax"], "email,sms", 3])
def test_a_withdrawal_request_words_every_channel_problem_the_same(channels: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        unsubscribe.parse_withdrawal_request({"email": "maija@example.fi", "channels": channels})
    assert {p.field: p.problem for p in caught.value.problems} == {
        "channels": "must be a list of email and/or sms"}


def test_a_withdrawal_request_without_channels_withdraws_every_channel() -> None:
    request = unsubscribe.parse_withdrawal_request({"contact_id": "x", "channels": "sms"})
    assert request.channels == ("sms",)
    assert unsubscribe.parse_withdrawal_request({"contact_id": "x"}).channels == CHANNELS

"""Odd numbers, deep JSON and control characters get a 4xx naming the problem, never a 500.

Each request here answered 500 before (superscript digits pass str.isdigit() and fail int();
3,000 levels of JSON overflow Python's parser; PostgreSQL refuses NUL in text). They run on
both databases because NUL and integer ranges are where the two differ.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.register_support import new_key, subscribe
from tests.webhook_support import add_source, contact, count_contacts

DEEP = "[" * 3000 + "]" * 3000


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize("query", ["cursor=²", "limit=²", "cursor=9999999999999999999",
                                   "limit=%00", "channel=email%00"])
def test_register_query_numbers_are_ascii_digits_within_range(
    client: Any, container: Any, query: str
) -> None:
    answer = client.get(f"/api/v1/register?{query}",
                        headers=_bearer(new_key(container, "reader")))
    assert answer.status_code == 422
    assert answer.is_json and answer.get_json()["error"] == "invalid_input"


@pytest.mark.parametrize("notice", ["¹", 2**63, 2**31, "9" * 30, -1])
def test_an_opt_in_naming_an_impossible_notice_version_is_refused_by_field(
    client: Any, container: Any, notice: Any
) -> None:
    answer = client.post("/api/v1/subscribe", json={
        "email": "maija@example.fi", "consent": True, "notice": notice})
    assert answer.status_code == 422
    assert "notice" in answer.get_json()["fields"]
    assert count_contacts(container) == 0


@pytest.mark.parametrize("path", ["/api/v1/subscribe", "/api/v1/withdrawals"])
def test_json_nested_thousands_deep_is_refused_as_a_bad_body(
    client: Any, container: Any, path: str
) -> None:
    answer = client.post(path, data=DEEP, content_type="application/json",
                         headers=_bearer(new_key(container, "desk", "staff")))
    assert answer.status_code == 400
    assert answer.is_json and "nested deeper" in answer.get_json()["message"]


def test_a_deep_json_webhook_delivery_is_unreadable_not_an_error(
    client: Any, container: Any
) -> None:
    token = add_source(container, "site", "cf7")
    answer = client.post("/webhooks/forms/site", data=DEEP, content_type="application/json",
                         headers={"X-Consent-Secret": token})
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ignored", "reason": "unreadable_body"}


@pytest.mark.parametrize("field", ["name", "page_url", "email"])
@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b"])
def test_control_characters_in_an_opt_in_are_refused_naming_the_field(
    client: Any, container: Any, field: str, char: str
) -> None:
    fields = {"email": "maija@example.fi", "consent": True, "name": "Maija",
              "page_url": "https://klinikka.fi/"}
    fields[field] = fields[field][:3] + char + fields[field][3:]
    answer = client.post("/api/v1/subscribe", json=fields)
    assert answer.status_code == 422
    assert field in answer.get_json()["fields"]
    assert count_contacts(container) == 0


def test_control_characters_in_a_form_opt_in_get_a_page_naming_the_field(
    client: Any, container: Any
) -> None:
    answer = client.post("/api/v1/subscribe", data={
        "email": "maija@example.fi", "consent": "on", "name": "Maija\x00"},
        headers={"Accept": "text/html"})
    assert answer.status_code == 422
    assert answer.mimetype == "text/html"
    assert count_contacts(container) == 0


def test_a_nul_in_a_path_parameter_is_refused(client: Any, container: Any) -> None:
    answer = client.get("/api/v1/contacts/%00", headers=_bearer(new_key(container, "desk",
                                                                         "staff")))
    assert answer.status_code == 422 and answer.is_json


def test_withdrawal_reason_with_nul_is_refused(client: Any, container: Any) -> None:
    subscribe(container, "maija@example.fi")
    answer = client.post("/api/v1/withdrawals",
                         data=json.dumps({"email": "maija@example.fi", "reason": "x\x00"}),
                         content_type="application/json",
                         headers=_bearer(new_key(container, "desk", "staff")))
    assert answer.status_code == 422 and "reason" in answer.get_json()["fields"]


def test_a_plugin_delivery_with_control_characters_is_cleaned_and_recorded(
    client: Any, container: Any
) -> None:
    token = add_source(container, "site", "cf7", mapping={"consent": ["uutiskirje"]})
    answer = client.post("/webhooks/forms/site", headers={"X-Consent-Secret": token}, json={
        "your-name": "Maija\x00 Meikä\x1bläinen", "your-email": "maija@example.fi",
        "uutiskirje": "1", "your-message": "\x07"})
    assert answer.get_json() == {"status": "pending"}
    person = contact(container, "maija@example.fi")
    assert person is not None and person.name == "Maija Meikäläinen"


@pytest.mark.parametrize("accept", ["*/*", None, "application/json, */*;q=0.5"])
def test_api_errors_answer_json_to_programs_that_accept_anything(
    client: Any, accept: str | None
) -> None:
    headers = {"Accept": accept} if accept else {}
    refused = client.get("/api/v1/register", headers=headers)
    invalid = client.post("/api/v1/subscribe", data={"email": "x"}, headers=headers)
    assert (refused.status_code, refused.mimetype) == (401, "application/json")
    assert (invalid.status_code, invalid.mimetype) == (422, "application/json")


def test_a_browser_posting_the_hosted_form_still_gets_a_page(client: Any) -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    answer = client.post("/api/v1/subscribe", data={"email": "x"}, headers={"Accept": browser})
    assert (answer.status_code, answer.mimetype) == (422, "text/html")


def test_staff_pages_read_numbers_as_ascii_digits(app: Any, client: Any, container: Any,
                                                  clock: Any) -> None:
    from tests.staff_support import add_account, csrf_from, enrol_and_login, login

    add_account(container, "omistaja", admin=True)
    enrol_and_login(client, clock, "omistaja")
    assert client.get("/staff/admin/audit?before=²").status_code == 200
    assert client.get("/staff/consents/new?notice=¹").status_code == 200
    other = app.test_client()
    page = login(other, "omistaja")
    assert page.status_code == 302
    step = other.get(page.headers["Location"]).get_data(as_text=True)
    answer = other.post(page.headers["Location"], data={"code": "²²²²²²",
                                                        "csrf_token": csrf_from(step)})
    assert answer.status_code < 500

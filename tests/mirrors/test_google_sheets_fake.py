"""The Sheets fake behaves like Google where the mirror depends on it."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.fakes.google_sheets import (
    FakeGoogleSheets,
    GridRange,
    SimulatedTime,
    parse_cells,
    split_a1,
)

from .conftest import SERVICE_ACCOUNT


def call(
    fake: FakeGoogleSheets, method: str, path: str, *, token: str | None = None, **kwargs: Any
) -> requests.Response:
    """Send one request to the fake with a bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with requests.Session() as session:
        return session.request(method, fake.url + path, headers=headers, timeout=5, **kwargs)


@pytest.fixture
def token(fake_sheets: FakeGoogleSheets) -> str:
    """Return an access token the fake issued to the service account."""
    return fake_sheets.issue_token(SERVICE_ACCOUNT)


@pytest.mark.parametrize(
    ("a1", "title", "grid"),
    [
        ("'Kevät ''24'!A1:C10", "Kevät '24", GridRange(0, 10, 0, 3)),
        ("Sheet1!B2", "Sheet1", GridRange(1, 2, 1, 2)),
        ("'Markkinointirekisteri'", "Markkinointirekisteri", GridRange()),
        ("Lista!A:C", "Lista", GridRange(0, None, 0, 3)),
        ("Lista!2:5", "Lista", GridRange(1, 5, 0, None)),
        ("A1:B2", None, GridRange(0, 2, 0, 2)),
        ("Lista", "Lista", GridRange()),
    ],
)
def test_a1_ranges_parse_like_google(a1: str, title: str | None, grid: GridRange) -> None:
    sheet, part = split_a1(a1)
    assert sheet == title
    assert parse_cells(part, a1) == grid


def test_writing_past_the_grid_is_refused_with_googles_message(
    fake_sheets: FakeGoogleSheets, spreadsheet_id: str, token: str
) -> None:
    answer = call(
        fake_sheets,
        "PUT",
        f"/v4/spreadsheets/{spreadsheet_id}/values/%27Sheet1%27%21A1001?valueInputOption=RAW",
        token=token,
        json={"values": [["x"]]},
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "error": {
            "code": 400,
            "message": (
                "Range ('Sheet1'!A1001) exceeds grid limits. Max rows: 1000, max columns: 26"
            ),
            "status": "INVALID_ARGUMENT",
        }
    }


def test_batch_update_is_all_or_nothing(
    fake_sheets: FakeGoogleSheets, spreadsheet_id: str, token: str
) -> None:
    answer = call(
        fake_sheets,
        "POST",
        f"/v4/spreadsheets/{spreadsheet_id}/values:batchUpdate",
        token=token,
        json={
            "valueInputOption": "RAW",
            "data": [
                {"range": "Sheet1!A1", "values": [["kept?"]]},
                {"range": "Sheet1!A2000", "values": [["past the grid"]]},
            ],
        },
    )
    assert answer.status_code == 400
    assert fake_sheets.values(spreadsheet_id, "Sheet1") == []


def test_requests_without_a_token_it_issued_are_unauthenticated(
    fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    for token in (None, "ya29.made-up"):
        answer = call(fake_sheets, "GET", f"/v4/spreadsheets/{spreadsheet_id}", token=token)
        assert answer.status_code == 401
        assert answer.json()["error"]["status"] == "UNAUTHENTICATED"


def test_token_endpoint_wants_the_jwt_bearer_grant(fake_sheets: FakeGoogleSheets) -> None:
    answer = call(fake_sheets, "POST", "/token", data={"grant_type": "client_credentials"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "unsupported_grant_type"


def test_read_quota_answers_429_with_googles_body_until_the_minute_turns(
    spreadsheet_id: str, fake_sheets: FakeGoogleSheets, token: str, sim_time: SimulatedTime
) -> None:
    fake_sheets.read_quota = 2
    sim_time.now = 60 * 1000  # the start of a quota minute
    path = f"/v4/spreadsheets/{spreadsheet_id}"
    assert [call(fake_sheets, "GET", path, token=token).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    error = call(fake_sheets, "GET", path, token=token).json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert "Read requests per minute per user" in error["message"]
    sim_time.sleep(60)
    assert call(fake_sheets, "GET", path, token=token).status_code == 200


def test_user_entered_text_becomes_a_formula_but_raw_stays_text(
    fake_sheets: FakeGoogleSheets, spreadsheet_id: str, token: str
) -> None:
    for option, cell in (("USER_ENTERED", "A1"), ("RAW", "A2")):
        call(
            fake_sheets,
            "PUT",
            f"/v4/spreadsheets/{spreadsheet_id}/values/Sheet1%21{cell}?valueInputOption={option}",
            token=token,
            json={"values": [["=1+1"]]},
        )
    assert type(fake_sheets.stored_cell(spreadsheet_id, "Sheet1", "A1")).__name__ == "Formula"
    assert fake_sheets.stored_cell(spreadsheet_id, "Sheet1", "A2") == "=1+1"


def test_request_log_records_method_path_and_body_size(
    fake_sheets: FakeGoogleSheets, spreadsheet_id: str, token: str
) -> None:
    call(
        fake_sheets,
        "POST",
        f"/v4/spreadsheets/{spreadsheet_id}/values:batchClear",
        token=token,
        json={"ranges": ["Sheet1!A1:B2"]},
    )
    [logged] = fake_sheets.api_requests()
    assert (logged.method, logged.kind, logged.status) == ("POST", "write", 200)
    assert logged.body_size == len(b'{"ranges": ["Sheet1!A1:B2"]}')

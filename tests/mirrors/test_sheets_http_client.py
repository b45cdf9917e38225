"""The retrying HTTP client under gspread: what it sends again, and what it never does."""

from __future__ import annotations

from collections.abc import Iterator

import gspread
import pytest
from google.oauth2.credentials import Credentials
from gspread.exceptions import APIError

from mirrors.sheets_client import RetryPolicy, SheetsHTTPClient, retry_after_seconds
from tests.fakes.google_sheets import FakeGoogleSheets, SimulatedTime

from .conftest import SERVICE_ACCOUNT


@pytest.fixture
def client(fake_sheets: FakeGoogleSheets, sim_time: SimulatedTime) -> Iterator[gspread.Client]:
    """Return a gspread client using SheetsHTTPClient with a static token from the fake."""
    credentials = Credentials(token=fake_sheets.issue_token(SERVICE_ACCOUNT))
    gc = gspread.Client(auth=credentials, http_client=SheetsHTTPClient)
    http = gc.http_client
    assert isinstance(http, SheetsHTTPClient)
    http.configure(
        api_base_url=fake_sheets.url, policy=RetryPolicy(), sleep=sim_time.sleep, random=lambda: 0.5
    )
    gc.set_timeout(5)
    yield gc
    http.session.close()


def test_append_is_never_retried(
    client: gspread.Client, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    sheet = client.open_by_key(spreadsheet_id).sheet1
    # Google did the append but the answer was lost: sending it again would duplicate the row.
    fake_sheets.fail(503, match=":append", apply_first=True)
    with pytest.raises(APIError):
        sheet.append_rows([["a", "b"]], value_input_option="RAW", table_range="A1")
    appends = [r for r in fake_sheets.api_requests() if r.path.endswith(":append")]
    assert len(appends) == 1
    assert fake_sheets.values(spreadsheet_id, "Sheet1") == [["a", "b"]]


def test_append_refused_by_quota_is_not_retried_either(
    client: gspread.Client, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    sheet = client.open_by_key(spreadsheet_id).sheet1
    fake_sheets.fail(429, match=":append")
    with pytest.raises(APIError):
        sheet.append_rows([["a"]], value_input_option="RAW", table_range="A1")
    assert len([r for r in fake_sheets.api_requests() if r.path.endswith(":append")]) == 1


def test_fixed_range_update_is_retried_after_a_server_error(
    client: gspread.Client,
    fake_sheets: FakeGoogleSheets,
    spreadsheet_id: str,
    sim_time: SimulatedTime,
) -> None:
    sheet = client.open_by_key(spreadsheet_id).sheet1
    fake_sheets.fail(503, times=2, method="PUT")
    sheet.update([["x", "y"]], "A1:B1", raw=True)
    assert fake_sheets.values(spreadsheet_id, "Sheet1") == [["x", "y"]]
    assert sim_time.sleeps == [0.5, 1.0]  # full jitter drawn at 0.5 of 1 s, then of 2 s


def test_persistent_failure_gives_up_after_the_attempt_limit(
    client: gspread.Client, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    fake_sheets.fail(429, times=None)
    with pytest.raises(APIError):
        client.open_by_key(spreadsheet_id)
    assert len(fake_sheets.api_requests()) == RetryPolicy().max_attempts


def test_retry_after_longer_than_the_cap_gives_up_at_once(
    client: gspread.Client,
    fake_sheets: FakeGoogleSheets,
    spreadsheet_id: str,
    sim_time: SimulatedTime,
) -> None:
    fake_sheets.fail(429, retry_after="120")
    with pytest.raises(APIError):
        client.open_by_key(spreadsheet_id)
    assert sim_time.sleeps == []


def test_client_errors_are_not_retried(
    client: gspread.Client, fake_sheets: FakeGoogleSheets
) -> None:
    with pytest.raises(gspread.exceptions.SpreadsheetNotFound):
        client.open_by_key("1DoesNotExist")
    assert len(fake_sheets.api_requests()) == 1


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        ("0.5", 0.5),
        (None, None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_retry_after_header_is_read_as_seconds_or_a_date(
    header: str | None, seconds: float | None
) -> None:
    assert retry_after_seconds(header) == seconds

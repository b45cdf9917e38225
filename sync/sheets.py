"""Mirror the register into a Google Sheet tab through gspread and a service account."""

from __future__ import annotations

import bisect
import contextlib
import email.utils
import json
import logging
import os
import random as random_module
import re
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import google.auth.exceptions
import google.auth.transport.requests
import gspread
import requests
from google.oauth2 import service_account
from gspread.exceptions import APIError
from gspread.http_client import FileType, ParamsType

from service.domain.ports import (
    MirrorMisconfigured,
    MirrorNeedsFullPass,
    MirrorReport,
    MirrorUnavailable,
    RowChange,
)
from sync.diff import Comparison, Grid, compare, row_edits, trimmed, wanted_grid

log = logging.getLogger(__name__)

GOOGLE_SHEETS_URL = "https://sheets.googleapis.com"
# Only the spreadsheets scope: the mirror never needs the whole of the account's Drive.
SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
# Marks the protection this service adds, so a pass can tell its own from a person's.
PROTECTION_DESCRIPTION = "consent-register: this tab is a copy of the register and is overwritten"
MAX_REQUEST_BYTES = 2_000_000  # Google's recommended ceiling for one request's payload
ROW_HEADROOM = 500  # rows added beyond what is needed, so each new contact does not resize the grid
MIN_NEW_TAB_ROWS = 1000
MIN_NEW_TAB_COLUMNS = 26
LAYOUT_MAX_AGE = 600.0  # seconds a pass trusts what it last learned of the tab's layout
METADATA_FIELDS = "sheets(properties(sheetId,title,index,gridProperties),protectedRanges)"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter."""

    max_attempts: int = 5
    base_wait: float = 1.0
    # Quotas refill per minute, so a 429 deserves longer waits than a passing 5xx.
    quota_base_wait: float = 4.0
    max_wait: float = 30.0

    def wait(self, attempt: int, *, quota: bool, draw: Callable[[], float]) -> float:
        """Return a full-jitter wait before attempt + 1."""
        base = self.quota_base_wait if quota else self.base_wait
        return draw() * min(self.max_wait, base * 2.0 ** (attempt - 1))


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header (seconds or an HTTP date) into seconds from now."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _operation(method: str, url: str) -> str:
    """Name a request for logs without its range (a tab title is fine; values never appear)."""
    path = urlsplit(url).path
    if "/values" in path:
        tail = path.rsplit("/", 1)[-1]
        suffix = tail.rsplit(":", 1)[-1] if ":" in tail else ""
        return f"{method.upper()} values{':' + suffix if suffix else ''}"
    return f"{method.upper()} spreadsheet{':batchUpdate' if path.endswith(':batchUpdate') else ''}"


def _retry_class(method: str, url: str) -> str:
    """Tell which failures a request may be retried after: "any", "quota" or "never"."""
    method = method.upper()
    path = urlsplit(url).path
    if path.endswith(":append"):
        return "never"  # a retried append after a lost answer duplicates rows
    if method in ("GET", "PUT", "DELETE", "HEAD"):
        return "any"
    if path.endswith(("values:batchUpdate", "values:batchClear", ":clear")):
        return "any"  # fixed ranges: doing it twice leaves the same cells
    # Other POSTs (spreadsheet :batchUpdate adding tabs or protections) may have taken effect
    # before a 5xx or a timeout; a 429 is a refusal before any work, so that alone is retried.
    return "quota"


class SheetsHTTPClient(gspread.HTTPClient):
    """gspread's HTTP client with a base-URL override, request counting and bounded retries."""

    def __init__(self, auth: Any, session: requests.Session | None = None) -> None:
        super().__init__(auth, session)
        self.auth = auth  # gspread keeps it only when it builds the session itself
        self.api_base_url: str | None = None
        self.policy = RetryPolicy()
        self.sleep: Callable[[float], None] = time.sleep
        self.random: Callable[[], float] = random_module.random
        self.requests_sent = 0
        self.session.hooks.setdefault("response", []).append(self._count_response)

    def configure(
        self,
        *,
        api_base_url: str | None,
        policy: RetryPolicy,
        sleep: Callable[[float], None],
        random: Callable[[], float],
    ) -> None:
        """Set what gspread's two-argument constructor cannot pass."""
        self.api_base_url = api_base_url.rstrip("/") if api_base_url else None
        self.policy = policy
        self.sleep = sleep
        self.random = random

    def _count_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # A hook sees every response, including google-auth's resend after a 401.
        self.requests_sent += 1

    def _rewrite(self, url: str) -> str:
        if self.api_base_url and url.startswith(GOOGLE_SHEETS_URL):
            return self.api_base_url + url[len(GOOGLE_SHEETS_URL) :]
        return url

    def request(
        self,
        method: str,
        endpoint: str,
        params: ParamsType | None = None,
        data: bytes | None = None,
        json: Mapping[str, Any] | None = None,
        files: FileType = None,
        headers: MutableMapping[str, str] | None = None,
    ) -> requests.Response:
        """Send one API request, retrying what is safe to retry, a bounded number of times."""
        url = self._rewrite(endpoint)
        allowed = _retry_class(method, url)
        attempt = 0
        while True:
            attempt += 1
            try:
                return super().request(
                    method, url, params=params, data=data, json=json, files=files, headers=headers
                )
            except APIError as err:
                code = err.response.status_code
                quota = code == 429
                if not ((quota and allowed != "never") or (code >= 500 and allowed == "any")):
                    raise
                if attempt >= self.policy.max_attempts:
                    raise
                wait = self.policy.wait(attempt, quota=quota, draw=self.random)
                told = retry_after_seconds(err.response.headers.get("Retry-After"))
                if told is not None:
                    if told > self.policy.max_wait:
                        raise  # the server asks for a longer pause than one pass should hold
                    wait = max(wait, told)
                reason = str(code)
            except (requests.ConnectionError, requests.Timeout) as err:
                self.requests_sent += 1  # sent (or tried), but no response reached the hook
                if allowed != "any" or attempt >= self.policy.max_attempts:
                    raise
                wait = self.policy.wait(attempt, quota=False, draw=self.random)
                reason = type(err).__name__
            except requests.exceptions.ChunkedEncodingError as err:
                if allowed != "any" or attempt >= self.policy.max_attempts:
                    raise
                wait = self.policy.wait(attempt, quota=False, draw=self.random)
                reason = type(err).__name__
            except google.auth.exceptions.TransportError as err:
                # The token endpoint was out of reach: nothing was sent to the Sheets API yet.
                if attempt >= self.policy.max_attempts:
                    raise
                wait = self.policy.wait(attempt, quota=False, draw=self.random)
                reason = type(err).__name__
            except google.auth.exceptions.RefreshError as err:
                if not err.retryable or attempt >= self.policy.max_attempts:
                    raise
                wait = self.policy.wait(attempt, quota=False, draw=self.random)
                reason = "token endpoint " + type(err).__name__
            wait = min(wait, self.policy.max_wait)
            log.warning(
                "Sheets API %s failed (%s); attempt %d of %d in %.1f s",
                _operation(method, url),
                reason,
                attempt + 1,
                self.policy.max_attempts,
                wait,
            )
            self.sleep(wait)


class _PinnedAuthRequest(google.auth.transport.requests.Request):
    """google-auth's transport limited to given hosts.

    With an emulator standing in for Google, google-auth would still start its own lookups at
    Google (the "allowed locations" check at iamcredentials.googleapis.com, google-auth >= 2.50).
    Refusing every other host keeps such traffic on the machine; google-auth treats the refusal
    as a failed lookup and carries on.
    """

    def __init__(self, session: requests.Session, allowed_hosts: set[str]) -> None:
        super().__init__(session)
        self.allowed_hosts = frozenset(allowed_hosts)

    def __call__(self, url: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        host = urlsplit(url).netloc
        if host not in self.allowed_hosts:
            # google-auth leaves these unannotated.
            raise google.auth.exceptions.TransportError(  # type: ignore[no-untyped-call]
                f"not contacting {host}: the Sheets API URL is overridden"
            )
        return super().__call__(url, method, *args, **kwargs)  # type: ignore[no-untyped-call]


def quote_title(title: str) -> str:
    """Quote a tab title for A1 notation."""
    return "'" + title.replace("'", "''") + "'"


def column_letters(count: int) -> str:
    """Return the letters of the count-th column (1 -> A, 27 -> AA)."""
    letters = ""
    while count:
        count, rem = divmod(count - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters


def plan_value_writes(
    title: str, wanted: Grid, current: Sequence[Sequence[str]], max_bytes: int = MAX_REQUEST_BYTES
) -> list[dict[str, Any]]:
    """Return values:batchUpdate bodies that turn the current grid into the wanted one.

    Rows are compared by position after the pass has read the tab: every row that differs is
    rewritten whole, rows below the register are blanked. Runs of adjacent rows share one range.
    Bodies are split only when one would pass max_bytes.
    """
    width = max([len(wanted[0])] + [len(r) for r in current])
    height = max(len(wanted), len(current))
    last_col = column_letters(width)
    entries: list[tuple[int, dict[str, Any]]] = []
    run_start: int | None = None
    run_rows: list[list[str]] = []
    run_bytes = 0
    budget = max_bytes - 512  # room for the envelope and the range strings

    def flush() -> None:
        nonlocal run_start, run_rows, run_bytes
        if run_start is not None and run_rows:
            end = run_start + len(run_rows)
            entries.append(
                (
                    run_bytes,
                    {
                        "range": f"{quote_title(title)}!A{run_start + 1}:{last_col}{end}",
                        "majorDimension": "ROWS",
                        "values": run_rows,
                    },
                )
            )
        run_start, run_rows, run_bytes = None, [], 0

    wanted_trimmed = trimmed(wanted)
    current = trimmed(current)
    for i in range(height):
        if i < len(wanted_trimmed) and i < len(current) and wanted_trimmed[i] == current[i]:
            flush()
            continue
        want = list(wanted[i]) if i < len(wanted) else []
        want += [""] * (width - len(want))
        have = list(current[i]) if i < len(current) else []
        have += [""] * (width - len(have))
        if want == have:
            flush()
            continue
        size = len(json.dumps(want)) + 2  # as requests encodes it: non-ASCII escaped
        if run_start is None:
            run_start = i
        elif run_bytes + size > budget:
            flush()
            run_start = i
        run_rows.append(want)
        run_bytes += size
    flush()

    return _pack(entries, budget)


def _pack(entries: Sequence[tuple[int, dict[str, Any]]], budget: int) -> list[dict[str, Any]]:
    """Put ranged rows into values:batchUpdate bodies, a new one only when one would be full."""
    bodies: list[dict[str, Any]] = []
    data: list[dict[str, Any]] = []
    used = 0
    for size, entry in entries:
        if data and used + size > budget:
            bodies.append({"valueInputOption": "RAW", "data": data})
            data, used = [], 0
        data.append(entry)
        used += size + 128
    if data:
        bodies.append({"valueInputOption": "RAW", "data": data})
    return bodies


def plan_row_changes(
    sheet_id: int,
    row_count: int,
    title: str,
    header: Sequence[str],
    keys: Sequence[str],
    orders: Sequence[int],
    changes: Mapping[str, RowChange],
    max_bytes: int = MAX_REQUEST_BYTES,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Plan the changed rows of a tab whose data rows hold keys, ascending by their orders.

    Returns the structural requests (room, row deletions bottom-up, insertions top-down), the
    values bodies that write each changed row whole at its final place, and the grid's row
    count afterwards. Beyond one look at each key the work grows with the changes only.
    """
    written_rows = wanted_grid(header, [c.row for c in changes.values() if c.row is not None])
    width = len(written_rows[0])
    rows = {row[0]: row for row in written_rows[1:]}
    position = {key: i for i, key in enumerate(keys) if key in changes}
    doomed = sorted(i for key, i in position.items() if changes[key].row is None)
    new = sorted((changes[key].order, key) for key in rows if key not in position)
    new_orders = [order for order, _ in new]
    kept_total = len(keys) - len(doomed)

    placed: list[tuple[int, str]] = []  # (final data-row index, key)
    insert_at: list[int] = []
    for j, (order, key) in enumerate(new):
        at = bisect.bisect_left(orders, order)
        kept_before = at - bisect.bisect_left(doomed, at)
        placed.append((kept_before + j, key))
        if kept_before < kept_total:  # a kept row follows: it needs room; below them none
            insert_at.append(kept_before + j)
    for key in rows:
        if key in position:
            i = position[key]
            moved = i - bisect.bisect_left(doomed, i)
            placed.append((moved + bisect.bisect_left(new_orders, orders[i]), key))

    requests: list[dict[str, Any]] = []
    deleted, inserted = len(doomed), len(insert_at)
    needed = max(1 + kept_total + len(new), 2)
    if row_count - deleted + inserted < needed or row_count - deleted < 2:
        grow = needed + ROW_HEADROOM - (row_count - deleted + inserted)
        requests.append(
            {"appendDimension": {"sheetId": sheet_id, "dimension": "ROWS", "length": grow}}
        )
        row_count += grow
    for start, end in _runs(sorted(doomed, reverse=True), step=-1):
        requests.append(_dimension("deleteDimension", sheet_id, start + 1, end + 1))
    for start, end in _runs(insert_at, step=1):
        requests.append(_dimension("insertDimension", sheet_id, start + 1, end + 1))

    last_col = column_letters(width)
    runs: list[tuple[int, list[list[str]]]] = []  # (first data-row index, rows)
    for index, key in sorted(placed):
        if runs and runs[-1][0] + len(runs[-1][1]) == index:
            runs[-1][1].append(rows[key])
        else:
            runs.append((index, [rows[key]]))
    entries = [
        (
            sum(len(json.dumps(row)) + 2 for row in run),
            {
                # Data row 0 is the sheet's row 2 (A1 notation counts from 1, the header first).
                "range": f"{quote_title(title)}!A{start + 2}:{last_col}{start + len(run) + 1}",
                "majorDimension": "ROWS",
                "values": run,
            },
        )
        for start, run in runs
    ]
    return requests, _pack(entries, max_bytes - 512), row_count - deleted + inserted


def _runs(indexes: Sequence[int], *, step: int) -> list[tuple[int, int]]:
    """Group indexes (ascending for step 1, descending for -1) into [start, end) runs."""
    runs: list[tuple[int, int]] = []
    for i in indexes:
        if runs and step == 1 and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        elif runs and step == -1 and runs[-1][0] == i + 1:
            runs[-1] = (i, runs[-1][1])
        else:
            runs.append((i, i + 1))
    return runs


def _dimension(kind: str, sheet_id: int, start: int, end: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "range": {"sheetId": sheet_id, "dimension": "ROWS", "startIndex": start, "endIndex": end}
    }
    if kind == "insertDimension":
        body["inheritFromBefore"] = True
    return {kind: body}


@dataclass
class _TabPlan:
    """What the spreadsheet's metadata says about the tab, and what must change in it."""

    read_title: str | None  # the title to read values from; None: no tab, nothing to read
    requests: list[dict[str, Any]]
    sheet_id: int = 0
    row_count: int = 0  # the grid once the requests are applied
    column_count: int = 0


def plan_tab(
    metadata: Mapping[str, Any],
    title: str,
    wanted_rows: int,
    wanted_columns: int,
    service_account_email: str,
    new_sheet_id: Callable[[set[int]], int],
) -> _TabPlan:
    """Return the spreadsheet :batchUpdate requests that make the tab fit the register."""
    sheets = list(metadata.get("sheets", []))
    ids = {int(s.get("properties", {}).get("sheetId", 0)) for s in sheets}
    tab = next((s for s in sheets if s.get("properties", {}).get("title") == title), None)
    reqs: list[dict[str, Any]] = []
    if tab is None:
        # A tab renamed by hand still holds the old register: take it back rather than leave
        # a stale copy of personal data beside a new tab.
        ours = [
            s
            for s in sheets
            if any(
                p.get("description") == PROTECTION_DESCRIPTION for p in s.get("protectedRanges", [])
            )
        ]
        if len(ours) == 1:
            tab = ours[0]
            reqs.append(
                {
                    "updateSheetProperties": {
                        "properties": {"sheetId": tab["properties"]["sheetId"], "title": title},
                        "fields": "title",
                    }
                }
            )
    if tab is None:
        sheet_id = new_sheet_id(ids)
        reqs.append(
            {
                "addSheet": {
                    "properties": {
                        "sheetId": sheet_id,
                        "title": title,
                        "gridProperties": {
                            "rowCount": max(MIN_NEW_TAB_ROWS, wanted_rows + ROW_HEADROOM),
                            "columnCount": max(MIN_NEW_TAB_COLUMNS, wanted_columns),
                            "frozenRowCount": 1,
                        },
                    }
                }
            }
        )
        reqs.append(_protect(sheet_id, service_account_email))
        return _TabPlan(
            read_title=None,
            requests=reqs,
            sheet_id=sheet_id,
            row_count=max(MIN_NEW_TAB_ROWS, wanted_rows + ROW_HEADROOM),
            column_count=max(MIN_NEW_TAB_COLUMNS, wanted_columns),
        )

    props = tab.get("properties", {})
    sheet_id = int(props.get("sheetId", 0))
    grid = props.get("gridProperties", {})
    rows, cols = int(grid.get("rowCount", 0)), int(grid.get("columnCount", 0))
    new_grid: dict[str, int] = {}
    if rows < max(wanted_rows, 2):  # one row more than the header, or it cannot stay frozen
        new_grid["rowCount"] = wanted_rows + ROW_HEADROOM
    if cols < wanted_columns:
        new_grid["columnCount"] = wanted_columns
    if int(grid.get("frozenRowCount", 0)) != 1:
        new_grid["frozenRowCount"] = 1
    if new_grid:
        reqs.append(
            {
                "updateSheetProperties": {
                    "properties": {"sheetId": sheet_id, "gridProperties": new_grid},
                    "fields": ",".join(f"gridProperties.{k}" for k in new_grid),
                }
            }
        )
    ours = [
        p for p in tab.get("protectedRanges", []) if p.get("description") == PROTECTION_DESCRIPTION
    ]
    if not ours:
        reqs.append(_protect(sheet_id, service_account_email))
    else:
        mine = ours[0]
        whole = set(mine.get("range", {})) <= {"sheetId"}
        if mine.get("warningOnly") or not whole:
            spec = _protect(sheet_id, service_account_email)["addProtectedRange"]["protectedRange"]
            spec["protectedRangeId"] = mine.get("protectedRangeId")
            reqs.append(
                {
                    "updateProtectedRange": {
                        "protectedRange": spec,
                        "fields": "range,warningOnly,editors",
                    }
                }
            )
    return _TabPlan(
        read_title=str(props.get("title", title)),
        requests=reqs,
        sheet_id=sheet_id,
        row_count=new_grid.get("rowCount", rows),
        column_count=new_grid.get("columnCount", cols),
    )


def _protect(sheet_id: int, service_account_email: str) -> dict[str, Any]:
    return {
        "addProtectedRange": {
            "protectedRange": {
                "range": {"sheetId": sheet_id},
                "description": PROTECTION_DESCRIPTION,
                "warningOnly": False,
                "editors": {"users": [service_account_email]},
            }
        }
    }


_FIRST_ROW = re.compile(r"!A(\d+):")


def cell_updates(sheet_id: int, body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return a values:batchUpdate body's rows as updateCells requests (text values, as RAW)."""
    requests = []
    for entry in body["data"]:
        match = _FIRST_ROW.search(entry["range"])
        assert match, "plan_value_writes names ranges from column A"
        requests.append(
            {
                "updateCells": {
                    "start": {
                        "sheetId": sheet_id,
                        "rowIndex": int(match.group(1)) - 1,
                        "columnIndex": 0,
                    },
                    "rows": [
                        {
                            "values": [
                                {"userEnteredValue": {"stringValue": v}} if v else {} for v in row
                            ]
                        }
                        for row in entry["values"]
                    ],
                    "fields": "userEnteredValue",
                }
            }
        )
    return requests


# Above this many deletions and insertions in one pass, rewriting rows in place is cheaper.
MAX_ROW_EDITS = 5000


@dataclass
class _Layout:
    """What a pass learned of the tab from the spreadsheet's metadata, reused for a while."""

    title: str
    sheet_id: int
    row_count: int
    column_count: int
    learned_at: float


def plan_grid_changes(
    sheet_id: int, row_count: int, wanted: Grid, current: Sequence[Sequence[str]]
) -> tuple[list[dict[str, Any]], Grid, int]:
    """Return row deletions and insertions, the grid they leave, and its row count.

    A withdrawn contact's row is deleted rather than every row below it rewritten one place
    up. When the tab was sorted by hand (or edits would be many) rows are rewritten in place.
    Grid growth is asked for relative to the current size, so a stale idea of the size never
    shrinks the tab.
    """
    have = trimmed(current)
    edits = row_edits(wanted, have)
    requests: list[dict[str, Any]] = []
    if edits is None or len(edits.deletions) + len(edits.insertions) > MAX_ROW_EDITS:
        projected: Grid = have
        deleted = inserted = 0
    else:
        projected = edits.projected
        deleted = sum(end - start for start, end in edits.deletions)
        inserted = sum(end - start for start, end in edits.insertions)
    # Room first: Google refuses to delete every row below a frozen header.
    needed = max(len(wanted), len(projected), 2)
    if row_count - deleted + inserted < needed or row_count - deleted < 2:
        grow = needed + ROW_HEADROOM - (row_count - deleted + inserted)
        requests.append(
            {"appendDimension": {"sheetId": sheet_id, "dimension": "ROWS", "length": grow}}
        )
        row_count += grow
    if edits is not None and projected is edits.projected:
        for start, end in edits.deletions:
            requests.append(
                {
                    "deleteDimension": {
                        "range": {
                            "sheetId": sheet_id,
                            "dimension": "ROWS",
                            "startIndex": start,
                            "endIndex": end,
                        }
                    }
                }
            )
        for start, end in edits.insertions:
            requests.append(
                {
                    "insertDimension": {
                        "range": {
                            "sheetId": sheet_id,
                            "dimension": "ROWS",
                            "startIndex": start,
                            "endIndex": end,
                        },
                        "inheritFromBefore": True,
                    }
                }
            )
    return requests, projected, row_count - deleted + inserted


def _scrub(message: str, limit: int = 300) -> str:
    """Shorten an error message from Google and blank anything quoted in it (it may be a value)."""
    message = re.sub(r'"[^"]*"', '"…"', message)
    message = re.sub(r"'[^']*'", "'…'", message)
    return message[:limit]


class GoogleSheetsMirror:
    """The register as a tab of a Google Sheet, written by a service account."""

    def __init__(
        self,
        credentials_file: str | os.PathLike[str],
        spreadsheet_id: str,
        worksheet_title: str,
        *,
        api_base_url: str | None = None,
        timeout: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = random_module.random,
        retry: RetryPolicy | None = None,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        layout_max_age: float = LAYOUT_MAX_AGE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.credentials_file = Path(credentials_file)
        self.spreadsheet_id = spreadsheet_id
        self.worksheet_title = worksheet_title
        self.api_base_url = api_base_url
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.max_request_bytes = max_request_bytes
        self._sleep = sleep
        self._random = random
        self._http: SheetsHTTPClient | None = None
        self._auth_session: requests.Session | None = None
        self._email = ""
        # The tab's id, grid and protection are read again after this long, so that a removed
        # protection or unfrozen header is restored; in between a pass reads only the values.
        self.layout_max_age = layout_max_age
        self._monotonic = monotonic
        self._layout: _Layout | None = None
        self._trusted_layout = False  # whether the running pass relies on a remembered layout

    @property
    def service_account_email(self) -> str:
        """Return the service account's email (known once the credentials file is read)."""
        if not self._email:
            self._connect()
        return self._email

    def api(self) -> SheetsHTTPClient:
        """Return the API client (connected on first use); the checkpoints tab shares it."""
        return self._connect()

    def explained_failures(self) -> contextlib.AbstractContextManager[None]:
        """Return a context turning Google's failures into MirrorUnavailable/Misconfigured."""
        return self._google_failures()

    def close(self) -> None:
        """Close the HTTP connections."""
        if self._http is not None:
            self._http.session.close()
            self._http = None
        if self._auth_session is not None:
            self._auth_session.close()
            self._auth_session = None

    def __enter__(self) -> GoogleSheetsMirror:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_credentials(self) -> dict[str, Any]:
        path = self.credentials_file
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise MirrorMisconfigured(
                f"credentials file unreadable: {path}: {err.strerror or type(err).__name__}; "
                "set CONSENT_GOOGLE_CREDENTIALS to the service account's JSON key file"
            ) from None
        except ValueError:
            raise MirrorMisconfigured(
                f"credentials file unreadable: {path} is not JSON; download the service "
                "account's key again (JSON format) and point CONSENT_GOOGLE_CREDENTIALS at it"
            ) from None
        if not isinstance(info, dict) or info.get("type") != "service_account":
            kind = info.get("type") if isinstance(info, dict) else None
            raise MirrorMisconfigured(
                f"credentials file {path} is not a service account key (type {kind!r}); create "
                "a key for a service account in Google Cloud and use its JSON file"
            )
        return info

    def _connect(self) -> SheetsHTTPClient:
        if self._http is not None:
            return self._http
        info = self._read_credentials()
        try:
            # google-auth leaves this unannotated.
            credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=list(SCOPES)
            )
        except (ValueError, KeyError) as err:
            # The message names missing fields or says the key is malformed; it holds no key.
            detail = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
            raise MirrorMisconfigured(
                f"credentials file {self.credentials_file} is not a usable service account key: "
                f"{detail}"
            ) from None
        self._email = str(info.get("client_email", ""))
        auth_request = None
        if self.api_base_url:
            self._auth_session = requests.Session()
            hosts = {
                urlsplit(self.api_base_url).netloc,
                urlsplit(str(info.get("token_uri"))).netloc,
            }
            auth_request = _PinnedAuthRequest(self._auth_session, hosts)
        session = google.auth.transport.requests.AuthorizedSession(  # type: ignore[no-untyped-call]
            credentials, auth_request=auth_request
        )
        client = gspread.Client(auth=credentials, session=session, http_client=SheetsHTTPClient)
        http = client.http_client
        assert isinstance(http, SheetsHTTPClient)
        http.configure(
            api_base_url=self.api_base_url,
            policy=self.retry,
            sleep=self._sleep,
            random=self._random,
        )
        client.set_timeout(self.timeout)
        self._http = http
        return http

    def _new_sheet_id(self, taken: set[int]) -> int:
        while True:
            candidate = 1 + int(self._random() * (2**31 - 2))
            if candidate not in taken:
                return candidate

    def apply(
        self, header: Sequence[str], rows: Sequence[Sequence[str]], *, check_only: bool = False
    ) -> MirrorReport:
        """Make the tab show exactly header and rows (or only compare when check_only)."""
        wanted = wanted_grid(header, rows)
        http = self._connect()
        sent_before = http.requests_sent
        with self._google_failures():
            try:
                comparison, repaired = self._pass(http, wanted, check_only)
            except APIError as err:
                if err.response.status_code != 400 or not self._trusted_layout:
                    raise
                # The tab changed since its layout was last read (resized or rows deleted by
                # hand, or another writer): read everything afresh and try once more.
                self._layout = None
                comparison, repaired = self._pass(http, wanted, check_only)
        return MirrorReport(
            added=comparison.added,
            changed=comparison.changed,
            removed=comparison.removed,
            requests=http.requests_sent - sent_before,
            repaired_layout=repaired,
        )

    def _read_values(self, http: SheetsHTTPClient, title: str) -> Grid:
        answer = http.values_get(
            self.spreadsheet_id,
            quote_title(title),
            params={"valueRenderOption": "FORMATTED_VALUE", "majorDimension": "ROWS"},
        )
        return [[str(v) for v in row] for row in answer.get("values", [])]

    def _pass(
        self, http: SheetsHTTPClient, wanted: Grid, check_only: bool
    ) -> tuple[Comparison, bool]:
        """Read the tab (and its layout when not known lately), then write what differs."""
        layout = self._layout
        self._trusted_layout = False
        if layout is not None and (
            self._monotonic() - layout.learned_at > self.layout_max_age
            or layout.column_count < len(wanted[0])
        ):
            layout = None
        current: Grid | None = None
        if layout is not None:
            self._trusted_layout = True
            try:
                current = self._read_values(http, layout.title)
            except APIError as err:
                if err.response.status_code != 400:
                    raise
                layout = None  # "Unable to parse range": the tab was deleted or renamed
        tab_requests: list[dict[str, Any]] = []
        if layout is None or current is None:
            self._layout = None
            self._trusted_layout = False
            metadata = http.fetch_sheet_metadata(
                self.spreadsheet_id, params={"includeGridData": "false", "fields": METADATA_FIELDS}
            )
            tab = plan_tab(
                metadata,
                self.worksheet_title,
                len(wanted),
                len(wanted[0]),
                self._email,
                self._new_sheet_id,
            )
            tab_requests = tab.requests
            current = [] if tab.read_title is None else self._read_values(http, tab.read_title)
            layout = _Layout(
                title=self.worksheet_title,
                sheet_id=tab.sheet_id,
                row_count=tab.row_count,
                column_count=tab.column_count,
                learned_at=self._monotonic(),
            )
        comparison = compare(wanted, current)
        repaired = bool(tab_requests or comparison.header_differs or comparison.arrangement_differs)
        if check_only:
            return comparison, repaired
        if comparison.identical:
            if tab_requests:
                http.batch_update(self.spreadsheet_id, {"requests": tab_requests})
            self._layout = layout
            return comparison, repaired
        grid_requests, projected, row_count = plan_grid_changes(
            layout.sheet_id, layout.row_count, wanted, current
        )
        bodies = plan_value_writes(self.worksheet_title, wanted, projected, self.max_request_bytes)
        self._send(http, layout.sheet_id, tab_requests + grid_requests, bodies)
        layout.row_count = row_count
        self._layout = layout
        return comparison, repaired

    def _send(
        self,
        http: SheetsHTTPClient,
        sheet_id: int,
        structural: list[dict[str, Any]],
        bodies: list[dict[str, Any]],
    ) -> None:
        """Send the tab's structural changes and the values, in one request when they fit."""
        if structural and len(bodies) <= 1:
            # The tab or its rows must change anyway: carry the values in the same (atomic)
            # request when they fit, so the pass still costs one write.
            combined = structural + [
                cells for body in bodies for cells in cell_updates(sheet_id, body)
            ]
            if len(json.dumps({"requests": combined})) <= self.max_request_bytes:
                structural, bodies = combined, []
        if structural:
            http.batch_update(self.spreadsheet_id, {"requests": structural})
        for body in bodies:
            http.values_batch_update(self.spreadsheet_id, body)

    def apply_changes(
        self, header: Sequence[str], changes: Sequence[RowChange], shown: Mapping[str, int]
    ) -> MirrorReport:
        """Write only the changed rows after reading only the header and the key column.

        shown maps each key the last pass left in the tab to its order. Anything unexpected
        (another header, keys blank, doubled, unknown, missing or out of order, a tab gone or
        resized under the pass, a layout not read lately) raises MirrorNeedsFullPass.
        """
        http = self._connect()
        sent_before = http.requests_sent
        with self._google_failures():
            try:
                added, changed, removed = self._incremental(http, header, changes, shown)
            except APIError as err:
                if err.response.status_code != 400:
                    raise
                # "Unable to parse range" (the tab is gone) or a grid smaller than we knew.
                self._layout = None
                message = _scrub(str(err.error.get("message", "")))
                raise MirrorNeedsFullPass(
                    f"Google Sheets refused the incremental pass ({message})"
                ) from None
        return MirrorReport(
            added=added,
            changed=changed,
            removed=removed,
            requests=http.requests_sent - sent_before,
        )

    def _incremental(
        self,
        http: SheetsHTTPClient,
        header: Sequence[str],
        changes: Sequence[RowChange],
        shown: Mapping[str, int],
    ) -> tuple[int, int, int]:
        """Read the header and key column once, check them, write the changed rows once."""
        layout = self._layout
        if (
            layout is None
            or self._monotonic() - layout.learned_at > self.layout_max_age
            or layout.column_count < len(header)
        ):
            raise MirrorNeedsFullPass("the tab's layout was not read lately")
        if len(changes) > MAX_ROW_EDITS:
            raise MirrorNeedsFullPass("too many changes for row-by-row edits")
        title = quote_title(layout.title)
        answer = http.values_batch_get(
            self.spreadsheet_id,
            [f"{title}!1:1", f"{title}!A2:A"],
            params={"valueRenderOption": "FORMATTED_VALUE", "majorDimension": "ROWS"},
        )
        ranges = answer.get("valueRanges", [])
        if len(ranges) != 2:
            raise MirrorNeedsFullPass("the tab's header and key column did not come back")
        head = [[str(v) for v in row] for row in ranges[0].get("values", [])[:1]]
        if trimmed(head) != trimmed([list(header)]):
            raise MirrorNeedsFullPass("the header row differs")
        keys = [str(row[0]) if row else "" for row in ranges[1].get("values", [])]
        if len(keys) != len(shown):
            raise MirrorNeedsFullPass("the tab holds other rows than the last pass left")
        previous: int | None = None
        for key in keys:
            order = shown.get(key)
            if order is None:
                raise MirrorNeedsFullPass("a key in the tab is blank or unknown")
            if previous is not None and order <= previous:
                raise MirrorNeedsFullPass("keys in the tab are doubled or out of order")
            previous = order

        latest = {change.key: change for change in changes}
        written = {key for key, change in latest.items() if change.row is not None}
        removed = sum(1 for key in keys if key in latest and key not in written)
        added = sum(1 for key in written if key not in shown)
        if not written and not removed:
            return 0, 0, 0
        structural, bodies, row_count = plan_row_changes(
            layout.sheet_id,
            layout.row_count,
            layout.title,
            header,
            keys,
            [shown[key] for key in keys],
            latest,
            self.max_request_bytes,
        )
        self._send(http, layout.sheet_id, structural, bodies)
        layout.row_count = row_count
        return added, len(written) - added, removed

    def _explain(self, err: APIError) -> Exception:
        code = err.response.status_code
        status = str(err.error.get("status", ""))
        message = str(err.error.get("message", ""))
        sheet = self.spreadsheet_id
        if code == 429 or code >= 500:
            return MirrorUnavailable(
                f"Google Sheets answered {code} {status} after {self.retry.max_attempts} "
                "attempts; the next pass catches up"
            )
        if code == 404:
            return MirrorMisconfigured(
                f"no spreadsheet with id {sheet}: check CONSENT_SPREADSHEET_ID"
            )
        if code == 403 and ("has not been used" in message or "disabled" in message):
            return MirrorMisconfigured(
                "enable the Google Sheets API in the service account's Google Cloud project "
                f"({_scrub(message)})"
            )
        if code == 403 and "protected" in message:
            return MirrorMisconfigured(
                f"a protected range on the tab {self.worksheet_title!r} keeps {self._email} "
                "out: remove that protection or add the service account as its editor"
            )
        if code == 403:
            return MirrorMisconfigured(
                f"share the spreadsheet {sheet} with {self._email} as Editor "
                f"(Google answered 403 {status})"
            )
        if code == 401:
            return MirrorMisconfigured(
                f"Google does not accept the credentials of {self._email} (401 {status}); "
                "create a new key for the service account and update CONSENT_GOOGLE_CREDENTIALS"
            )
        if code == 400 and "above the limit" in message:
            return MirrorMisconfigured(
                f"the spreadsheet {sheet} is full ({_scrub(message)}); "
                "move the register to a spreadsheet with room or delete unused tabs"
            )
        # A 400 is most often a race with a person editing the tab between our read and write.
        return MirrorUnavailable(
            f"Google Sheets refused a request ({code} {status}: {_scrub(message)}); "
            "the next pass reads the tab again"
        )

    @contextlib.contextmanager
    def _google_failures(self) -> Iterator[None]:
        """Turn what gspread, requests and google-auth raise into the mirror port's errors."""
        try:
            yield
        except APIError as err:
            if err.response.status_code == 400:
                self._layout = None  # the tab changed under us: learn it afresh next time
            raise self._explain(err) from None
        except (requests.RequestException, google.auth.exceptions.TransportError) as err:
            raise MirrorUnavailable(
                f"Google Sheets out of reach ({type(err).__name__}); the next pass catches up"
            ) from None
        except google.auth.exceptions.RefreshError as err:
            raise self._explain_refresh(err) from None

    def _explain_refresh(self, err: google.auth.exceptions.RefreshError) -> Exception:
        if err.retryable:
            return MirrorUnavailable(
                "Google's token endpoint is not answering; the next pass catches up"
            )
        first = err.args[0] if err.args else ""
        detail = str(first).splitlines()[0][:200] if first else type(err).__name__
        return MirrorMisconfigured(
            f"Google refused the key of {self._email} ({detail}): the key may be deleted or "
            "disabled; create a new key for the service account and update "
            "CONSENT_GOOGLE_CREDENTIALS"
        )

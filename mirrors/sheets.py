"""The register as a Google Sheet tab, written through gspread by a service account.

A full pass compares as a stream: it reads the register's rows once, keeping each row's key
and digest, reads the tab in fixed row ranges the same way, and reads the register again only
for the rows it must write, sending each values body as it fills, so its memory does not grow
with the register. The requests are planned in mirrors.sheets_plans, sent by
mirrors.sheets_client, and Google's failures are told as the port's exceptions by
mirrors.sheets_errors.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random as random_module
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import google.auth.transport.requests
import gspread
import requests
from google.oauth2 import service_account
from gspread.exceptions import APIError

from mirrors.diff import (
    Comparison,
    GridDigest,
    WantedGrid,
    compare,
    digest_wanted,
    rewrites,
    trimmed,
)
from mirrors.sheets_client import PinnedAuthRequest, RetryPolicy, SheetsHTTPClient
from mirrors.sheets_errors import SheetTarget, google_failures, scrub
from mirrors.sheets_plans import (
    MAX_REQUEST_BYTES,
    MAX_ROW_EDITS,
    ValueWrites,
    cell_updates,
    column_letters,
    plan_grid_changes,
    plan_row_changes,
    plan_tab,
    quote_title,
)
from service.domain.ports import (
    MirrorMisconfigured,
    MirrorNeedsFullPass,
    MirrorReport,
    RowChange,
)

log = logging.getLogger(__name__)

# Only the spreadsheets scope: the mirror never needs the whole of the account's Drive.
SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
LAYOUT_MAX_AGE = 600.0  # seconds a pass trusts what it last learned of the tab's layout
# Rows read per request in a full pass: about 4 MB of JSON at the register's row size, so the
# tab is never in memory whole, and 100,000 rows take 10 reads of Google's 60 a minute.
TAB_READ_ROWS = 10_000
METADATA_FIELDS = "sheets(properties(sheetId,title,index,gridProperties),protectedRanges)"


class _Sender:
    """Send a full pass's writes in order: structural changes first, then values as they fill.

    When the values fit one body, it travels in the same request as the structural changes
    (see GoogleSheetsMirror._send); otherwise each body is sent as soon as it is full.
    """

    def __init__(
        self,
        mirror: GoogleSheetsMirror,
        http: SheetsHTTPClient,
        sheet_id: int,
        structural: list[dict[str, Any]],
    ) -> None:
        self._mirror = mirror
        self._http = http
        self._sheet_id = sheet_id
        self._structural: list[dict[str, Any]] | None = structural  # None once sent

    def body(self, body: dict[str, Any], last: bool) -> None:
        """Send a full values body (after the structural changes, or with them if it is all)."""
        if self._structural is not None:
            structural, self._structural = self._structural, None
            if last:
                self._mirror._send(self._http, self._sheet_id, structural, [body])
                return
            self._mirror._send(self._http, self._sheet_id, structural, [])
        self._http.values_batch_update(self._mirror.spreadsheet_id, body)

    def finish(self) -> None:
        """Send the structural changes if no values body carried them."""
        if self._structural is not None:
            self._mirror._send(self._http, self._sheet_id, self._structural, [])
            self._structural = None


@dataclass
class _Layout:
    """What a pass learned of the tab from the spreadsheet's metadata, reused for a while."""

    title: str
    sheet_id: int
    row_count: int
    column_count: int
    learned_at: float


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
        read_rows: int = TAB_READ_ROWS,
    ) -> None:
        self.credentials_file = Path(credentials_file)
        self.spreadsheet_id = spreadsheet_id
        self.worksheet_title = worksheet_title
        self.api_base_url = api_base_url
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.max_request_bytes = max_request_bytes
        self.read_rows = read_rows
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
            auth_request = PinnedAuthRequest(self._auth_session, hosts)
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
        self, header: Sequence[str], rows: Iterable[Sequence[str]], *, check_only: bool = False
    ) -> MirrorReport:
        """Make the tab show exactly header and rows (or only compare when check_only).

        rows is read twice at most: once to compare (keys and digests kept, not rows), and again
        only when rows must be written, then each written as its body fills.
        """
        wanted = digest_wanted(header, rows)
        http = self._connect()
        sent_before = http.requests_sent
        with self._google_failures():
            try:
                comparison, repaired = self._pass(http, header, rows, wanted, check_only)
            except APIError as err:
                if err.response.status_code != 400 or not self._trusted_layout:
                    raise
                # The tab changed since its layout was last read (resized or rows deleted by
                # hand, or another writer): read everything afresh and try once more.
                self._layout = None
                comparison, repaired = self._pass(http, header, rows, wanted, check_only)
        return MirrorReport(
            added=comparison.added,
            changed=comparison.changed,
            removed=comparison.removed,
            requests=http.requests_sent - sent_before,
            repaired_layout=repaired,
        )

    def _read_tab(
        self,
        http: SheetsHTTPClient,
        title: str,
        grid_rows: int,
        grid_columns: int,
        wanted: WantedGrid,
    ) -> GridDigest:
        """Read the tab's values in fixed row ranges, keeping each row's key and digest only.

        Once a range comes back short (Sheets leaves out trailing blank rows), or the next
        would reach the grid's end, one last range runs to the end of the grid: rows a person
        added there since the layout was read are seen too, and blank rows cost no request.
        """
        tab = GridDigest(wanted.index)
        quoted = quote_title(title)
        first = 1
        while True:
            last = first + self.read_rows - 1
            to_the_end = last >= grid_rows
            cells = f"A{first}:{column_letters(max(grid_columns, 1))}" if to_the_end else \
                f"{first}:{last}"
            answer = http.values_get(
                self.spreadsheet_id,
                f"{quoted}!{cells}",
                params={"valueRenderOption": "FORMATTED_VALUE", "majorDimension": "ROWS"},
            )
            values = answer.get("values", [])
            for offset, row in enumerate(values):
                tab.put(first - 1 + offset, [str(v) for v in row])
            if to_the_end:
                return tab.finish()
            first = last + 1
            if len(values) < self.read_rows:
                grid_rows = first  # only the rest of the grid, in one range, is left to read

    def _pass(
        self,
        http: SheetsHTTPClient,
        header: Sequence[str],
        rows: Iterable[Sequence[str]],
        wanted: WantedGrid,
        check_only: bool,
    ) -> tuple[Comparison, bool]:
        """Read the tab (and its layout when not known lately), then write what differs."""
        layout = self._layout
        self._trusted_layout = False
        if layout is not None and (
            self._monotonic() - layout.learned_at > self.layout_max_age
            or layout.column_count < wanted.width
        ):
            layout = None
        current: GridDigest | None = None
        if layout is not None:
            self._trusted_layout = True
            try:
                current = self._read_tab(
                    http, layout.title, layout.row_count, layout.column_count, wanted
                )
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
                1 + len(wanted.digests),
                wanted.width,
                self._email,
                self._new_sheet_id,
            )
            tab_requests = tab.requests
            current = (
                GridDigest(wanted.index)
                if tab.read_title is None
                else self._read_tab(http, tab.read_title, tab.read_rows, tab.read_columns, wanted)
            )
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
        layout.row_count = self._write(http, layout, tab_requests, header, rows, wanted, current)
        self._layout = layout
        return comparison, repaired

    def _write(
        self,
        http: SheetsHTTPClient,
        layout: _Layout,
        tab_requests: list[dict[str, Any]],
        header: Sequence[str],
        rows: Iterable[Sequence[str]],
        wanted: WantedGrid,
        current: GridDigest,
    ) -> int:
        """Move rows, then write those that differ, reading them again; return the row count."""
        grid_requests, projected, row_count = plan_grid_changes(
            layout.sheet_id, layout.row_count, wanted, current
        )
        todo = rewrites(wanted, current.header, projected)
        width = max(wanted.width, current.widest)
        sender = _Sender(self, http, layout.sheet_id, tab_requests + grid_requests)
        writes = ValueWrites(self.worksheet_title, width, sender.body, self.max_request_bytes)
        if todo.header:
            writes.add(0, header)
        remaining = todo.rows.count(1)
        if remaining:
            for row in rows:
                at = wanted.index.get(row[0]) if row else None
                # A contact who joined since the first read is left to the pass its change
                # queued; one who left keeps the place planned for them until then.
                if at is not None and todo.rows[at]:
                    writes.add(at + 1, row)
                    remaining -= 1
                    if not remaining:
                        break
        for index in todo.blanks:
            writes.add(index, [])
        writes.finish()
        sender.finish()
        return row_count

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
                message = scrub(str(err.error.get("message", "")))
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

    def _target(self) -> SheetTarget:
        return SheetTarget(
            self.spreadsheet_id, self.worksheet_title, self._email, self.retry.max_attempts
        )

    def _forget_layout(self) -> None:
        self._layout = None  # the tab changed under us: learn it afresh next time

    def _google_failures(self) -> contextlib.AbstractContextManager[None]:
        """Turn what gspread, requests and google-auth raise into the mirror port's errors."""
        return google_failures(self._target, self._forget_layout)

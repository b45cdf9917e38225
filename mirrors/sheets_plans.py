"""Pure planners of Sheets API requests: what to send so that the tab shows the register.

Nothing here talks to Google: each function turns what a pass read (the spreadsheet's
metadata, the digests of the tab's rows, the register's rows) into request bodies.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mirrors.diff import (
    Grid,
    GridDigest,
    WantedGrid,
    digest_grid,
    digest_wanted,
    rewrites,
    row_edits,
    wanted_grid,
)
from service.domain.ports import RowChange

# Marks the protection this service adds, so a pass can tell its own from a person's.
PROTECTION_DESCRIPTION = "consent-register: this tab is a copy of the register and is overwritten"
MAX_REQUEST_BYTES = 2_000_000  # Google's recommended ceiling for one request's payload
ENTRY_BYTES = 128  # a range's own JSON beside its rows
ROW_HEADROOM = 500  # rows added beyond what is needed, so each new contact does not resize the grid
MIN_NEW_TAB_ROWS = 1000
MIN_NEW_TAB_COLUMNS = 26


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


class ValueWrites:
    """Gather rows written whole at their places into values:batchUpdate bodies.

    Rows come in ascending order; adjacent rows share one range. A body is handed to `ready`
    as soon as the next row would take it past max_bytes (with `last` false: more follow), so
    one body's rows at most are held.
    """

    def __init__(
        self,
        title: str,
        width: int,
        ready: Callable[[dict[str, Any], bool], None],
        max_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:
        self._title = quote_title(title)
        self._width = width
        self._last_col = column_letters(width)
        self._ready = ready
        self._budget = max_bytes - 512  # room for the envelope and the range strings
        self._run_start: int | None = None
        self._run_rows: list[list[str]] = []
        self._run_bytes = 0
        self._data: list[dict[str, Any]] = []
        self._used = 0

    def add(self, index: int, row: Sequence[str]) -> None:
        """Write the row (padded to the width) at a grid row index (0: the header)."""
        want = list(row) + [""] * (self._width - len(row))
        size = len(json.dumps(want)) + 2  # as requests encodes it: non-ASCII escaped
        if self._run_start is not None and index != self._run_start + len(self._run_rows):
            self._end_run()
        if (self._data or self._run_rows) and (
            self._used + self._run_bytes + ENTRY_BYTES + size > self._budget
        ):
            self._end_run()
            self._hand_on(last=False)
        if self._run_start is None:
            self._run_start = index
        self._run_rows.append(want)
        self._run_bytes += size

    def finish(self) -> None:
        """Hand on the last body."""
        self._end_run()
        if self._data:
            self._hand_on(last=True)

    def _end_run(self) -> None:
        if self._run_start is None:
            return
        start, end = self._run_start, self._run_start + len(self._run_rows)
        self._data.append(
            {
                "range": f"{self._title}!A{start + 1}:{self._last_col}{end}",
                "majorDimension": "ROWS",
                "values": self._run_rows,
            }
        )
        self._used += self._run_bytes + ENTRY_BYTES
        self._run_start, self._run_rows, self._run_bytes = None, [], 0

    def _hand_on(self, *, last: bool) -> None:
        self._ready({"valueInputOption": "RAW", "data": self._data}, last)
        self._data, self._used = [], 0


def plan_value_writes(
    title: str, wanted: Grid, current: Sequence[Sequence[str]], max_bytes: int = MAX_REQUEST_BYTES
) -> list[dict[str, Any]]:
    """Return values:batchUpdate bodies that turn the current grid into the wanted one.

    Rows are compared by position: every row that differs is rewritten whole, rows below the
    register are blanked. Runs of adjacent rows share one range. Bodies are split only when one
    would pass max_bytes. (A full pass does the same as a stream: see GoogleSheetsMirror.)
    """
    want = digest_wanted(wanted[0], wanted[1:])
    have = digest_grid(current, want)
    todo = rewrites(want, have.header, have.digests)
    bodies: list[dict[str, Any]] = []
    writes = ValueWrites(
        title, max(want.width, have.widest), lambda body, _last: bodies.append(body), max_bytes
    )
    if todo.header:
        writes.add(0, wanted[0])
    for j, row in enumerate(wanted[1:]):
        if todo.rows[j]:
            writes.add(j + 1, row)
    for index in todo.blanks:
        writes.add(index, [])
    writes.finish()
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

    bodies: list[dict[str, Any]] = []
    writes = ValueWrites(title, width, lambda body, _last: bodies.append(body), max_bytes)
    for index, key in sorted(placed):
        writes.add(index + 1, rows[key])  # data row 0 is the grid's row 1, under the header
    writes.finish()
    return requests, bodies, row_count - deleted + inserted


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
    read_rows: int = 0  # the grid as it stands, to be read
    read_columns: int = 0


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
    tab, reqs = _find_tab(sheets, title)
    if tab is None:
        ids = {int(s.get("properties", {}).get("sheetId", 0)) for s in sheets}
        return _new_tab(
            new_sheet_id(ids), title, wanted_rows, wanted_columns, service_account_email
        )
    props = tab.get("properties", {})
    sheet_id = int(props.get("sheetId", 0))
    grid = props.get("gridProperties", {})
    new_grid = _grid_changes(grid, wanted_rows, wanted_columns)
    if new_grid:
        reqs.append(
            {
                "updateSheetProperties": {
                    "properties": {"sheetId": sheet_id, "gridProperties": new_grid},
                    "fields": ",".join(f"gridProperties.{k}" for k in new_grid),
                }
            }
        )
    reqs += _protection_repairs(tab, sheet_id, service_account_email)
    return _TabPlan(
        read_title=str(props.get("title", title)),
        requests=reqs,
        sheet_id=sheet_id,
        row_count=new_grid.get("rowCount", int(grid.get("rowCount", 0))),
        column_count=new_grid.get("columnCount", int(grid.get("columnCount", 0))),
        read_rows=int(grid.get("rowCount", 0)),
        read_columns=int(grid.get("columnCount", 0)),
    )


def _find_tab(
    sheets: Sequence[Mapping[str, Any]], title: str
) -> tuple[Mapping[str, Any] | None, list[dict[str, Any]]]:
    """Return the register's tab (None: there is none) and the request to rename it back."""
    tab = next((s for s in sheets if s.get("properties", {}).get("title") == title), None)
    if tab is not None:
        return tab, []
    # A tab renamed by hand still holds the old register: take it back rather than leave
    # a stale copy of personal data beside a new tab.
    ours = [
        s
        for s in sheets
        if any(p.get("description") == PROTECTION_DESCRIPTION for p in s.get("protectedRanges", []))
    ]
    if len(ours) != 1:
        return None, []
    rename = {
        "updateSheetProperties": {
            "properties": {"sheetId": ours[0]["properties"]["sheetId"], "title": title},
            "fields": "title",
        }
    }
    return ours[0], [rename]


def _new_tab(
    sheet_id: int, title: str, wanted_rows: int, wanted_columns: int, service_account_email: str
) -> _TabPlan:
    """Plan a new, protected tab with room for the register and a frozen header."""
    row_count = max(MIN_NEW_TAB_ROWS, wanted_rows + ROW_HEADROOM)
    column_count = max(MIN_NEW_TAB_COLUMNS, wanted_columns)
    add = {
        "addSheet": {
            "properties": {
                "sheetId": sheet_id,
                "title": title,
                "gridProperties": {
                    "rowCount": row_count,
                    "columnCount": column_count,
                    "frozenRowCount": 1,
                },
            }
        }
    }
    return _TabPlan(
        read_title=None,
        requests=[add, _protect(sheet_id, service_account_email)],
        sheet_id=sheet_id,
        row_count=row_count,
        column_count=column_count,
    )


def _grid_changes(grid: Mapping[str, Any], wanted_rows: int, wanted_columns: int) -> dict[str, int]:
    """Return the grid properties to change: room for the register, the header frozen."""
    rows, cols = int(grid.get("rowCount", 0)), int(grid.get("columnCount", 0))
    new_grid: dict[str, int] = {}
    if rows < max(wanted_rows, 2):  # one row more than the header, or it cannot stay frozen
        new_grid["rowCount"] = wanted_rows + ROW_HEADROOM
    if cols < wanted_columns:
        new_grid["columnCount"] = wanted_columns
    if int(grid.get("frozenRowCount", 0)) != 1:
        new_grid["frozenRowCount"] = 1
    return new_grid


def _protection_repairs(
    tab: Mapping[str, Any], sheet_id: int, service_account_email: str
) -> list[dict[str, Any]]:
    """Return the requests that put back our protection of the whole tab, if it was changed."""
    ours = [
        p for p in tab.get("protectedRanges", []) if p.get("description") == PROTECTION_DESCRIPTION
    ]
    if not ours:
        return [_protect(sheet_id, service_account_email)]
    mine = ours[0]
    whole = set(mine.get("range", {})) <= {"sheetId"}
    if not mine.get("warningOnly") and whole:
        return []
    spec = _protect(sheet_id, service_account_email)["addProtectedRange"]["protectedRange"]
    spec["protectedRangeId"] = mine.get("protectedRangeId")
    return [
        {"updateProtectedRange": {"protectedRange": spec, "fields": "range,warningOnly,editors"}}
    ]


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


def plan_grid_changes(
    sheet_id: int, row_count: int, wanted: WantedGrid, have: GridDigest
) -> tuple[list[dict[str, Any]], Sequence[int], int]:
    """Return row deletions and insertions, the data rows they leave (digests), the row count.

    A withdrawn contact's row is deleted rather than every row below it rewritten one place
    up. When the tab was sorted by hand (or edits would be many) rows are rewritten in place.
    Grid growth is asked for relative to the current size, so a stale idea of the size never
    shrinks the tab.
    """
    edits = row_edits(wanted, have)
    requests: list[dict[str, Any]] = []
    projected: Sequence[int]
    if edits is None or len(edits.deletions) + len(edits.insertions) > MAX_ROW_EDITS:
        projected = have.digests
        deleted = inserted = 0
        edits = None
    else:
        projected = edits.projected
        deleted = sum(end - start for start, end in edits.deletions)
        inserted = sum(end - start for start, end in edits.insertions)
    # Room first: Google refuses to delete every row below a frozen header.
    needed = max(1 + len(wanted.digests), 1 + len(projected), 2)
    if row_count - deleted + inserted < needed or row_count - deleted < 2:
        grow = needed + ROW_HEADROOM - (row_count - deleted + inserted)
        requests.append(
            {"appendDimension": {"sheetId": sheet_id, "dimension": "ROWS", "length": grow}}
        )
        row_count += grow
    if edits is not None:
        for start, end in edits.deletions:
            requests.append(_dimension("deleteDimension", sheet_id, start, end))
        for start, end in edits.insertions:
            requests.append(_dimension("insertDimension", sheet_id, start, end))
    return requests, projected, row_count - deleted + inserted

"""Compare what a mirror shows with the register it should show, matching rows by key."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

Grid = list[list[str]]


@dataclass(frozen=True)
class Comparison:
    """How a mirror's grid differs from the wanted one."""

    added: int
    changed: int
    removed: int
    header_differs: bool
    arrangement_differs: bool
    identical: bool


def wanted_grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> Grid:
    """Return header and rows as a grid, checking the shape the mirrors rely on.

    Messages name row numbers only: the values are personal data.
    """
    if not header:
        raise ValueError("the mirror needs a header row")
    width = len(header)
    grid: Grid = [[_text(v) for v in header]]
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        if len(row) > width:
            raise ValueError(f"register row {number} has more cells than the header")
        if any(type(v) is not str for v in row):
            for v in row:
                _text(v)  # raises, naming the type
        cells = list(row)
        if len(cells) < width:
            cells += [""] * (width - len(cells))
        key = cells[0]
        if not key:
            raise ValueError(f"register row {number} has no key in the first column")
        if key in seen:
            raise ValueError(f"register rows {seen[key]} and {number} have the same key")
        seen[key] = number
        grid.append(cells)
    return grid


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"mirror cells must be strings, not {type(value).__name__}")
    return value


def trimmed(grid: Sequence[Sequence[str]]) -> Grid:
    """Drop trailing empty cells of each row and trailing empty rows (as Sheets answers reads).

    Rows that need no trimming are passed on as they are, not copied: callers must not
    change them.
    """
    out: Grid = []
    for row in grid:
        if row and row[-1] == "":
            end = len(row)
            while end and row[end - 1] == "":
                end -= 1
            out.append(list(row[:end]))
        else:
            out.append(row if isinstance(row, list) else list(row))
    while out and not out[-1]:
        out.pop()
    return out


def compare(wanted: Grid, current: Sequence[Sequence[str]]) -> Comparison:
    """Compare a wanted grid (header first) with a mirror's current grid, rows matched by key."""
    want = trimmed(wanted)
    have = trimmed(current)
    identical = want == have
    width = len(wanted[0])
    header_differs = (have[0] if have else []) != want[0]

    wanted_rows = {row[0]: row for row in want[1:]}
    wanted_order = [row[0] for row in want[1:]]
    matched: list[str] = []
    matched_set: set[str] = set()
    changed = removed = blank_rows = 0
    stray_cells = False
    for row in have[1:]:
        if not row:
            blank_rows += 1  # trailing blank rows are trimmed, so this one sits between rows
            continue
        stray_cells = stray_cells or len(row) > width
        key = row[0]
        if key in wanted_rows and key not in matched_set:
            matched.append(key)
            matched_set.add(key)
            if row != wanted_rows[key]:
                changed += 1
        else:
            removed += 1  # unknown, keyless or duplicate rows all leave
    added = sum(1 for key in wanted_order if key not in matched_set)
    out_of_order = matched != [key for key in wanted_order if key in matched_set]
    return Comparison(
        added=added,
        changed=changed,
        removed=removed,
        header_differs=header_differs,
        arrangement_differs=out_of_order or blank_rows > 0 or stray_cells,
        identical=identical,
    )


@dataclass(frozen=True)
class RowEdits:
    """Whole-row deletions and insertions that line the current rows up with the wanted ones.

    Row indexes count the header as row 0. Deletions are applied first, bottom-up; insertions
    after them, top-down, in the coordinates they leave. `projected` is what the grid holds
    once both are done (inserted rows blank), to be compared cell by cell with the wanted grid.
    """

    deletions: list[tuple[int, int]]  # [start, end) ranges of current rows, bottom-up
    insertions: list[tuple[int, int]]  # [start, end) ranges of final rows, top-down
    projected: Grid


def row_edits(wanted: Grid, current: Sequence[Sequence[str]]) -> RowEdits | None:
    """Plan deletions and insertions so that no row below a removed one has to be rewritten.

    Returns None when the kept rows are not in the wanted order (a sorted tab): only a rewrite
    in place puts that right.
    """
    have = trimmed(current)
    wanted_index = {row[0]: i for i, row in enumerate(wanted) if i > 0}
    kept: list[int] = []
    seen: set[str] = set()
    doomed: list[int] = []
    for i in range(1, len(have)):
        row = have[i]
        key = row[0] if row else ""
        if key and key in wanted_index and key not in seen:
            seen.add(key)
            kept.append(i)
        else:
            doomed.append(i)
    order = [wanted_index[have[i][0]] for i in kept]
    if any(a > b for a, b in itertools.pairwise(order)):
        return None
    deletions: list[tuple[int, int]] = []
    for i in reversed(doomed):
        if deletions and deletions[-1][0] == i + 1:
            deletions[-1] = (i, deletions[-1][1])
        else:
            deletions.append((i, i + 1))
    kept_keys = {have[i][0]: have[i] for i in kept}
    last_kept = max(order, default=0)
    insertions: list[tuple[int, int]] = []
    projected: Grid = [list(have[0]) if have else []]
    for i in range(1, len(wanted)):
        key = wanted[i][0]
        if key in kept_keys:
            projected.append(list(kept_keys[key]))
            continue
        projected.append([])
        if i < last_kept:  # a new row among kept ones needs room; below them it needs none
            if insertions and insertions[-1][1] == i:
                insertions[-1] = (insertions[-1][0], i + 1)
            else:
                insertions.append((i, i + 1))
    return RowEdits(deletions=deletions, insertions=insertions, projected=projected)

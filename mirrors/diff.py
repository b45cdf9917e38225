"""Compare what a mirror shows with the register it should show, matching rows by key.

A full pass compares as a stream: each side is held as its header and each row's key and
digest (a `GridDigest`), never as whole rows, so a pass holds tens of bytes per contact rather
than the register's rows and the tab's.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

Grid = list[list[str]]


def trim(row: Sequence[str]) -> Sequence[str]:
    """Drop a row's trailing empty cells (as Sheets answers reads); a row needing none is kept."""
    end = len(row)
    while end and row[end - 1] == "":
        end -= 1
    return row if end == len(row) else row[:end]


def row_digest(cells: Sequence[str]) -> int:
    """Return the digest of a trimmed row's cells.

    Python's hash of the cells: 64 bits, salted per process, so a person editing the tab cannot
    aim at a collision; two different rows agree by chance with odds of about 2**-64.
    """
    return hash(tuple(cells))


BLANK = row_digest(())


def _digests() -> array[int]:
    return array("q")


@dataclass
class WantedGrid:
    """The register as a mirror should show it: its header and each row's key and digest."""

    header: list[str]  # trailing blanks trimmed
    width: int  # the header's cells: no row has more
    index: dict[str, int] = field(default_factory=dict)  # key to data row index
    digests: array[int] = field(default_factory=_digests)  # each data row's, in order


@dataclass
class GridDigest:
    """A mirror's grid as its header and, for each data row, its digest and its wanted place.

    Keys are not kept: each row's key is looked up in the wanted grid as it is read.
    """

    wanted: Mapping[str, int]  # key to data row index of the wanted grid
    header: list[str] = field(default_factory=list)  # trailing blanks trimmed; [] if none
    places: array[int] = field(default_factory=_digests)  # wanted index of the key, or -1
    digests: array[int] = field(default_factory=_digests)
    widest: int = 0  # cells in the longest row, the header included
    widest_data: int = 0  # cells in the longest data row

    def put(self, index: int, row: Sequence[str]) -> None:
        """Note the row at a grid index (0: the header); rows come in order, gaps are blank."""
        cells = trim(row)
        self.widest = max(self.widest, len(cells))
        if index == 0:
            self.header = list(cells)
            return
        while len(self.digests) < index - 1:
            self.places.append(-1)
            self.digests.append(BLANK)
        self.widest_data = max(self.widest_data, len(cells))
        self.places.append(self.wanted.get(cells[0], -1) if cells and cells[0] else -1)
        self.digests.append(row_digest(cells))

    def finish(self) -> GridDigest:
        """Drop trailing blank rows (as Sheets answers reads) and return the grid."""
        while self.digests and self.digests[-1] == BLANK:
            self.digests.pop()
            self.places.pop()
        return self


def digest_grid(grid: Iterable[Sequence[str]], wanted: WantedGrid) -> GridDigest:
    """Return the digest of a grid read from a mirror (header first)."""
    digest = GridDigest(wanted.index)
    for index, row in enumerate(grid):
        digest.put(index, row)
    return digest.finish()


def digest_wanted(header: Sequence[str], rows: Iterable[Sequence[str]]) -> WantedGrid:
    """Return the digest of header and rows, checking the shape the mirrors rely on.

    Messages name row numbers only: the values are personal data.
    """
    if not header:
        raise ValueError("the mirror needs a header row")
    wanted = WantedGrid(header=list(trim([_text(v) for v in header])), width=len(header))
    for number, row in enumerate(rows, start=1):
        key = _checked_key(number, row, wanted.width)
        if key in wanted.index:
            raise ValueError(
                f"register rows {wanted.index[key] + 1} and {number} have the same key")
        wanted.index[key] = number - 1
        wanted.digests.append(row_digest(trim(row)))
    return wanted


def _checked_key(number: int, row: Sequence[str], width: int) -> str:
    """Return the row's key, checking that it fits under the header and holds text only."""
    if len(row) > width:
        raise ValueError(f"register row {number} has more cells than the header")
    if any(type(v) is not str for v in row):
        for v in row:
            _text(v)  # raises, naming the type
    if not row or not row[0]:
        raise ValueError(f"register row {number} has no key in the first column")
    return row[0]


def wanted_grid(header: Sequence[str], rows: Iterable[Sequence[str]]) -> Grid:
    """Return header and rows as a grid, each row padded to the header, checking their shape."""
    if not header:
        raise ValueError("the mirror needs a header row")
    width = len(header)
    grid: Grid = [[_text(v) for v in header]]
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        key = _checked_key(number, row, width)
        if key in seen:
            raise ValueError(f"register rows {seen[key]} and {number} have the same key")
        seen[key] = number
        grid.append(list(row) + [""] * (width - len(row)))
    return grid


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"mirror cells must be strings, not {type(value).__name__}")
    return value


def trimmed(grid: Sequence[Sequence[str]]) -> Grid:
    """Drop trailing empty cells of each row and trailing empty rows (as Sheets answers reads)."""
    out: Grid = [list(trim(row)) for row in grid]
    while out and not out[-1]:
        out.pop()
    return out


@dataclass(frozen=True)
class Comparison:
    """How a mirror's grid differs from the wanted one."""

    added: int
    changed: int
    removed: int
    header_differs: bool
    arrangement_differs: bool
    identical: bool


def compare(wanted: WantedGrid, have: GridDigest) -> Comparison:
    """Compare the wanted grid with a mirror's, rows matched by key."""
    matched = bytearray(len(wanted.digests))
    last = -1
    out_of_order = False
    changed = removed = blank_rows = 0
    for at, digest in zip(have.places, have.digests, strict=True):
        if digest == BLANK:
            blank_rows += 1  # trailing blank rows are trimmed, so this one sits between rows
        elif at >= 0 and not matched[at]:
            matched[at] = 1
            out_of_order = out_of_order or at < last
            last = at
            if digest != wanted.digests[at]:
                changed += 1
        else:
            removed += 1  # unknown, keyless or duplicate rows all leave
    return Comparison(
        added=len(wanted.digests) - matched.count(1),
        changed=changed,
        removed=removed,
        header_differs=have.header != wanted.header,
        arrangement_differs=out_of_order or blank_rows > 0 or have.widest_data > wanted.width,
        identical=have.header == wanted.header and have.digests == wanted.digests,
    )


@dataclass(frozen=True)
class RowEdits:
    """Whole-row deletions and insertions that line the current rows up with the wanted ones.

    Row indexes count the header as row 0. Deletions are applied first, bottom-up; insertions
    after them, top-down, in the coordinates they leave. `projected` holds the digest of each
    data row once both are done (inserted rows blank), to be compared with the wanted rows.
    """

    deletions: list[tuple[int, int]]  # [start, end) ranges of current rows, bottom-up
    insertions: list[tuple[int, int]]  # [start, end) ranges of final rows, top-down
    projected: array[int]


def row_edits(wanted: WantedGrid, have: GridDigest) -> RowEdits | None:
    """Plan deletions and insertions so that no row below a removed one has to be rewritten.

    Returns None when the kept rows are not in the wanted order (a sorted tab): only a rewrite
    in place puts that right.
    """
    kept: list[int] = []  # data row indexes of the current rows that stay
    seen = bytearray(len(wanted.digests))
    doomed: list[int] = []
    for i, at in enumerate(have.places):
        if at >= 0 and not seen[at]:
            seen[at] = 1
            kept.append(i)
        else:
            doomed.append(i)
    del seen
    order = [have.places[i] for i in kept]
    if any(a > b for a, b in itertools.pairwise(order)):
        return None
    deletions: list[tuple[int, int]] = []
    for i in reversed(doomed):
        if deletions and deletions[-1][0] == i + 2:
            deletions[-1] = (i + 1, deletions[-1][1])
        else:
            deletions.append((i + 1, i + 2))
    last_kept = order[-1] if order else -1
    insertions: list[tuple[int, int]] = []
    projected = _digests()
    pending = iter(zip(order, kept, strict=True))
    next_kept = next(pending, None)
    for j in range(len(wanted.digests)):
        if next_kept is not None and next_kept[0] == j:
            projected.append(have.digests[next_kept[1]])
            next_kept = next(pending, None)
            continue
        projected.append(BLANK)
        if j < last_kept:  # a new row among kept ones needs room; below them it needs none
            if insertions and insertions[-1][1] == j + 1:
                insertions[-1] = (insertions[-1][0], j + 2)
            else:
                insertions.append((j + 1, j + 2))
    return RowEdits(deletions=deletions, insertions=insertions, projected=projected)


@dataclass(frozen=True)
class Rewrites:
    """Which rows a full pass writes whole once the rows stand where they will stay."""

    header: bool
    rows: bytearray  # 1 for each wanted data row to write
    blanks: list[int]  # grid indexes below the register whose stale rows are blanked


def rewrites(wanted: WantedGrid, header: Sequence[str], projected: Sequence[int]) -> Rewrites:
    """Return the rows where what will stand (header, projected data rows) differs from wanted."""
    rows = bytearray(len(wanted.digests))
    for j, digest in enumerate(wanted.digests):
        if j >= len(projected) or projected[j] != digest:
            rows[j] = 1
    blanks = [j + 1 for j in range(len(wanted.digests), len(projected)) if projected[j] != BLANK]
    return Rewrites(header=list(trim(header)) != wanted.header, rows=rows, blanks=blanks)

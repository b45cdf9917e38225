"""The local spreadsheet file that stands in for the Sheet when Google is not configured."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from mirrors.local_file import LocalFileMirror
from service.domain.ports import MirrorUnavailable

from .conftest import HEADER, TAB, contact_row, register


def read_back(path: Path) -> list[list[str]]:
    """Return the file's cells as openpyxl reads them."""
    workbook = load_workbook(path)
    try:
        return [
            ["" if v is None else v for v in row]
            for row in workbook[TAB].iter_rows(values_only=True)
        ]
    finally:
        workbook.close()


def padded(rows: list[list[str]]) -> list[list[str]]:
    """Return header and rows as they appear in the file."""
    return [list(HEADER), *rows]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """Return where the data directory's mirror file goes."""
    return tmp_path / "instance" / "rekisteri.xlsx"


def test_register_rows_are_written_with_finnish_letters_intact(path: Path) -> None:
    rows = [contact_row("Åsa Ström-Äijälä"), contact_row("Öllörin Ülle")]
    report = LocalFileMirror(path).apply(HEADER, rows)
    assert read_back(path) == padded(rows)
    assert (report.added, report.removed) == (2, 0)


def test_formula_like_text_stays_text(path: Path) -> None:
    row = contact_row('=HYPERLINK("https://evil.example","klikkaa")')
    row[2], row[6] = "+358401234567", "@SUM(A1)"
    row[7] = "-1+2"
    LocalFileMirror(path).apply(HEADER, [row])
    workbook = load_workbook(path)
    cells = next(workbook[TAB].iter_rows(min_row=2, max_row=2))
    workbook.close()
    assert [c.value or "" for c in cells] == row
    assert all(c.data_type == "s" for c in cells if c.value)
    with zipfile.ZipFile(path) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml and "<f " not in sheet_xml


def test_header_row_is_frozen(path: Path) -> None:
    LocalFileMirror(path).apply(HEADER, register(2))
    workbook = load_workbook(path)
    assert workbook[TAB].freeze_panes == "A2"
    workbook.close()


def test_withdrawn_row_vanishes_and_report_matches_rows_by_key(path: Path) -> None:
    mirror = LocalFileMirror(path)
    rows = register(4)
    mirror.apply(HEADER, rows)
    rows.pop(2)
    rows[0][1] = "Vaihtunut Nimi"
    rows.insert(0, contact_row("Uusi Ihminen"))
    report = mirror.apply(HEADER, rows)
    assert (report.added, report.changed, report.removed) == (1, 1, 1)
    assert read_back(path) == padded(rows)


def test_check_only_reports_drift_and_writes_nothing(path: Path) -> None:
    mirror = LocalFileMirror(path)
    rows = register(2)
    mirror.apply(HEADER, rows)
    before = path.read_bytes()
    report = mirror.apply(HEADER, rows[:1], check_only=True)
    assert report.removed == 1 and report.drift
    assert path.read_bytes() == before


def test_check_only_without_a_file_creates_none(path: Path) -> None:
    report = LocalFileMirror(path).apply(HEADER, register(1), check_only=True)
    assert report.added == 1
    assert not path.exists()


def test_unchanged_register_leaves_the_file_alone(path: Path) -> None:
    mirror = LocalFileMirror(path)
    rows = register(3)
    mirror.apply(HEADER, rows)
    inode = path.stat().st_ino
    report = mirror.apply(HEADER, rows)
    assert not report.drift
    assert path.stat().st_ino == inode


def test_file_is_replaced_atomically(path: Path) -> None:
    mirror = LocalFileMirror(path)
    mirror.apply(HEADER, register(2))
    inode = path.stat().st_ino
    rows = register(3)
    mirror.apply(HEADER, rows)
    assert path.stat().st_ino != inode  # a new file renamed over the old, never rewritten in place
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    assert read_back(path) == padded(rows)


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = LocalFileMirror(path)
    rows = register(2)
    mirror.apply(HEADER, rows)
    before = path.read_bytes()

    def disk_full(self: Workbook, filename: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Workbook, "save", disk_full)
    with pytest.raises(MirrorUnavailable, match="No space left"):
        mirror.apply(HEADER, register(3))
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_file_is_readable_by_its_owner_only(path: Path) -> None:
    LocalFileMirror(path).apply(HEADER, register(1))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_control_characters_are_dropped_rather_than_failing_the_pass(path: Path) -> None:
    row = contact_row("Piilo\x0bmerkki")
    mirror = LocalFileMirror(path)
    mirror.apply(HEADER, [row])
    assert read_back(path)[1][1] == "Piilomerkki"
    assert not mirror.apply(HEADER, [row]).drift


def test_hand_sorted_file_is_put_back_in_register_order(path: Path) -> None:
    mirror = LocalFileMirror(path)
    rows = register(4)
    mirror.apply(HEADER, rows)
    workbook = load_workbook(path)
    sheet = workbook[TAB]
    sheet.delete_rows(2)
    workbook.save(path)
    workbook.close()
    report = mirror.apply(HEADER, rows)
    assert report.added == 1
    assert read_back(path) == padded(rows)


def test_damaged_file_is_rewritten_from_the_register(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a spreadsheet")
    rows = register(2)
    LocalFileMirror(path).apply(HEADER, rows)
    assert read_back(path) == padded(rows)

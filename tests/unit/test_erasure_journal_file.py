"""The erasure journal file: appended, flushed, private, and readable after a torn write."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from service import erasure_journal
from service.domain.dependencies import ErasureRecord

WHEN = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _erasure(contact: str, minutes: int = 0) -> ErasureRecord:
    return ErasureRecord(contact_id=contact, address_hash="ab" * 32, key_id="0123456789abcdef",
                         erased_at=WHEN + timedelta(minutes=minutes))


def test_each_erasure_is_one_line_appended_to_a_file_only_its_owner_reads(
    tmp_path: Path,
) -> None:
    journal = erasure_journal.FileErasureJournal(tmp_path / "data" / "erasures.jsonl")
    journal.record(_erasure("c-1"))
    journal.record(_erasure("c-2", 1))
    lines = journal.path.read_text().splitlines()
    assert [json.loads(line)["contact_id"] for line in lines] == ["c-1", "c-2"]
    assert set(json.loads(lines[0])) == {"v", "contact_id", "address_hash", "key_id",
                                         "erased_at"}
    assert journal.path.stat().st_mode & 0o777 == 0o600


def test_a_torn_last_line_is_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "erasures.jsonl"
    erasure_journal.append(path, [_erasure("c-1")])
    with path.open("a") as handle:
        handle.write('{"v": 1, "contact_id": "c-2", "addr')
    read = erasure_journal.read(path)
    assert [e.contact_id for e in read.erasures] == ["c-1"]
    assert read.unreadable == 1
    assert read.erasures[0].erased_at == WHEN


def test_copies_of_the_journal_merge_into_one_list_oldest_first(tmp_path: Path) -> None:
    live, copy = tmp_path / "live.jsonl", tmp_path / "copy.jsonl"
    erasure_journal.append(live, [_erasure("c-2", 5)])
    erasure_journal.append(copy, [_erasure("c-1"), _erasure("c-2", 5)])
    merged = erasure_journal.merge([erasure_journal.read(live), erasure_journal.read(copy)])
    assert [e.contact_id for e in merged] == ["c-1", "c-2"]


def test_the_journal_is_made_empty_at_start_so_it_can_be_copied_from_the_first_day(
    tmp_path: Path,
) -> None:
    journal = erasure_journal.FileErasureJournal(tmp_path / "erasures.jsonl")
    journal.create()
    journal.create()
    assert journal.path.read_text() == ""
    assert journal.path.stat().st_mode & 0o777 == 0o600

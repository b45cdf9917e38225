"""The erasure journal: every erasure, kept outside the database so that a restore keeps it.

One JSON object a line, appended and flushed to disk before the erasure commits, readable only
by the service's user (0600). A line holds the contact's public id, the keyed hash of its
address and the erasure key's fingerprint: no address, name or phone number.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from service.domain.dependencies import ErasureRecord

log = logging.getLogger("consent.erasures")

JOURNAL_NAME = "erasures.jsonl"
VERSION = 1


def _line(erasure: ErasureRecord) -> bytes:
    record = {
        "v": VERSION,
        "contact_id": erasure.contact_id,
        "address_hash": erasure.address_hash,
        "key_id": erasure.key_id,
        "erased_at": erasure.erased_at.isoformat(),
    }
    return (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")


def _fsync_dir(path: Path) -> None:
    """Make a newly created file's directory entry durable too."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def append(path: Path, erasures: Iterable[ErasureRecord]) -> int:
    """Append erasures to the journal at path and flush them to disk; return how many."""
    data = b"".join(_line(e) for e in erasures)
    if not data:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    # O_APPEND: several processes (web, worker, the CLI) may append at once; each line is one
    # write well under a page, so lines never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_dir(path.parent)
    return data.count(b"\n")


@dataclass(frozen=True)
class FileErasureJournal:
    """The journal in the data directory, as the composition root wires it."""

    path: Path

    def record(self, erasure: ErasureRecord) -> None:
        """Append one erasure and flush it to disk before returning."""
        append(self.path, [erasure])

    def create(self) -> None:
        """Make the (empty) journal now, so that it is there to be copied from the first day.

        A journal that cannot be made is logged, not raised: erasures then fail, loudly, until
        it can be written, and everything else keeps working.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                             0o600))
        except OSError as exc:
            log.warning("the erasure journal %s cannot be written (%s): erasures will fail "
                        "until it can", self.path, exc.strerror)


@dataclass(frozen=True)
class JournalContents:
    """What a journal file held: its erasures, and how many lines could not be read."""

    erasures: list[ErasureRecord]
    unreadable: int


def read(path: Path) -> JournalContents:
    """Read a journal; a line that is not a journal entry (a torn last write) is counted."""
    erasures: list[ErasureRecord] = []
    unreadable = 0
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
                erasures.append(ErasureRecord(
                    contact_id=str(entry["contact_id"]),
                    address_hash=entry.get("address_hash"),
                    key_id=entry.get("key_id"),
                    erased_at=datetime.fromisoformat(entry["erased_at"]),
                ))
            except (ValueError, KeyError, TypeError):
                unreadable += 1
    if unreadable:
        log.warning("%s: %d line(s) are not journal entries and were skipped", path, unreadable)
    return JournalContents(erasures, unreadable)


def merge(journals: Sequence[JournalContents]) -> list[ErasureRecord]:
    """Return every erasure found in any of the journals once, oldest first."""
    seen: dict[tuple[str, str | None], ErasureRecord] = {}
    for journal in journals:
        for erasure in journal.erasures:
            key = (erasure.contact_id, erasure.address_hash)
            if key not in seen or erasure.erased_at < seen[key].erased_at:
                seen[key] = erasure
    return sorted(seen.values(), key=lambda e: (e.erased_at, e.contact_id))

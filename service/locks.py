"""Locks that one process at a time may hold: PostgreSQL advisory locks, or a file lock."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine


def _lock_id(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def exclusive(engine: Engine, name: str, lock_dir: Path, *, wait: bool) -> Iterator[bool]:
    """Hold the named lock for the block; yield False when wait is off and it is taken."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            if wait:
                conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _lock_id(name)})
                held = True
            else:
                held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:id)"),
                                         {"id": _lock_id(name)}).scalar())
            conn.commit()
            try:
                yield held
            finally:
                if held:
                    conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _lock_id(name)})
                    conn.commit()
        return
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

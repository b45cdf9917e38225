"""Consistent copies of the database, with the erasure journal kept beside each one."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from service.settings import Settings

Progress = Callable[[str], None]
JOURNAL_SUFFIX = ".erasures.jsonl"
# SQLite copies this many pages (4 KiB each by default) between progress reports.
PAGES_PER_STEP = 2048


def _quiet(_message: str) -> None:
    """Report nothing."""


def journal_copy(backup_file: Path) -> Path:
    """Return where the erasure journal is kept beside a backup file."""
    return backup_file.with_name(backup_file.name + JOURNAL_SUFFIX)


def sqlite_file(settings: Settings) -> Path:
    """Return the SQLite database file the settings name."""
    database = make_url(settings.database_url).database
    if not database or database == ":memory:":
        raise RuntimeError("the SQLite database is in memory: there is nothing to back up")
    return Path(database)


def libpq_connection(settings: Settings) -> tuple[str, dict[str, str]]:
    """Return a libpq URL without the password, and an environment that carries it.

    The password goes in PGPASSWORD: a command line is visible to every user of the machine.
    """
    url = make_url(settings.database_url).set(drivername="postgresql")
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    return url.set(password=None).render_as_string(hide_password=False), env


def pg_tool(name: str) -> str:
    """Return the path of a PostgreSQL client program, or say how to install it."""
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed: install the PostgreSQL client tools "
                           "(Debian: apt-get install postgresql-client)")
    return found


def _ensure_erasure_key(settings: Settings) -> None:
    """Create the erasure key before copying, so that every backup holds it.

    Erasures made after the backup are journalled as keyed hashes under that key (it never
    rotates); a backup without it could not recognise their addresses after a restore.
    """
    from service import db
    from service.domain.rights import erasure_key

    engine = db.make_engine(settings.database_url)
    try:
        if not inspect(engine).has_table("service_state"):
            return
        with db.make_session_factory(engine)() as session:
            erasure_key(session, datetime.now(UTC))
            session.commit()
    finally:
        engine.dispose()


@dataclass(frozen=True)
class BackupReport:
    """What a backup wrote."""

    path: Path
    size: int
    journal: Path


def _copy_sqlite(source_path: Path, partial: Path, progress: Progress) -> None:
    if not source_path.exists():
        raise RuntimeError(f"no SQLite database at {source_path}")
    source = sqlite3.connect(source_path)
    destination = sqlite3.connect(partial)

    def report(_status: int, remaining: int, total: int) -> None:
        if total:
            progress(f"copied {total - remaining} of {total} pages")

    try:
        with destination:
            source.backup(destination, pages=PAGES_PER_STEP, progress=report)
        # One self-contained file: the copy must not depend on a -wal file beside it.
        destination.execute("PRAGMA journal_mode=DELETE")
    finally:
        destination.close()
        source.close()


def _dump_postgresql(settings: Settings, partial: Path, progress: Progress) -> None:
    dsn, env = libpq_connection(settings)
    progress("pg_dump is writing the custom-format archive...")
    result = subprocess.run(  # noqa: S603 - fixed program, our own arguments
        [pg_tool("pg_dump"), "--format=custom", f"--file={partial}", f"--dbname={dsn}"],
        capture_output=True, text=True, check=False, env=env,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pg_dump failed: {result.stderr.strip()[:500]}")


def backup(settings: Settings, target: Path, *, progress: Progress = _quiet) -> BackupReport:
    """Copy the database to target (SQLite's online backup, or pg_dump's custom format),
    and the erasure journal beside it; both readable by the owner only.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    _ensure_erasure_key(settings)
    # Written under another name first: a failed or interrupted backup never leaves a file
    # that looks like a good one.
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        if settings.is_sqlite:
            _copy_sqlite(sqlite_file(settings), partial, progress)
        else:
            _dump_postgresql(settings, partial, progress)
        partial.chmod(0o600)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    # Always written, empty when nothing was ever erased: whatever copies the backups away
    # finds the pair it expects.
    journal = journal_copy(target)
    journal.unlink(missing_ok=True)
    os.close(os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    if settings.erasure_journal.exists():
        shutil.copyfile(settings.erasure_journal, journal)
    return BackupReport(target, target.stat().st_size, journal)

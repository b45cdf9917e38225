"""Consistent copies of the database."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from service.settings import Settings


def backup(settings: Settings, target: Path) -> None:
    """Copy the database to target: SQLite's online backup, or pg_dump for PostgreSQL."""
    target.parent.mkdir(parents=True, exist_ok=True)
    url = make_url(settings.database_url)
    if settings.is_sqlite:
        source_path = url.database
        if not source_path or not Path(source_path).exists():
            raise RuntimeError(f"no SQLite database at {source_path}")
        source = sqlite3.connect(source_path)
        destination = sqlite3.connect(target)
        try:
            with destination:
                source.backup(destination)
        finally:
            destination.close()
            source.close()
        return
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise RuntimeError("pg_dump is not installed: install the PostgreSQL client tools")
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    result = subprocess.run(  # noqa: S603 - fixed program, our own arguments
        [pg_dump, "--format=custom", f"--file={target}", f"--dbname={libpq}"],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pg_dump failed: {result.stderr.strip()[:500]}")

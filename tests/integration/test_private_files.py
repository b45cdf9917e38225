"""Files holding secrets (TOTP, webhook signing keys) are readable by the service's user only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from service.bootstrap import build
from service.settings import load_settings
from tests.webhook_support import subscribed


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_and_its_wal_files_are_created_0600(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old_umask = os.umask(0o022)
    try:
        container = build(load_settings({"CONSENT_DATA_DIR": str(data),
                                         "CONSENT_SECRET_KEYS": "k" * 32}))
        subscribed(container, "maija@example.fi")
        database = data / "consent.sqlite3"
        assert database.exists()
        for file in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
            if file.exists():
                assert _mode(file) == 0o600, file.name
        container.close()
    finally:
        os.umask(old_umask)


def test_an_existing_readable_database_is_made_private_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    database = data / "consent.sqlite3"
    database.touch(mode=0o644)
    database.chmod(0o644)
    container = build(load_settings({"CONSENT_DATA_DIR": str(data),
                                     "CONSENT_SECRET_KEYS": "k" * 32}))
    assert _mode(database) == 0o600
    container.close()

"""Staff passwords are hashed at production cost by the service; only tests inject a cheap one."""

from __future__ import annotations

from pathlib import Path

import argon2
from argon2 import profiles
from click.testing import CliRunner
from sqlalchemy import select

from service.bootstrap import build
from service.cli import main
from service.domain.models import StaffAccount
from service.settings import load_settings
from tests.staff_support import PASSWORD


def test_the_service_hashes_staff_passwords_with_rfc_9106_low_memory_argon2id(
    tmp_path: Path,
) -> None:
    env = {"CONSENT_DATA_DIR": str(tmp_path / "data"), "CONSENT_DATABASE_URL": "",
           "CONSENT_SECRET_KEYS": "cli-test-key-0123456789"}
    added = CliRunner().invoke(main, ["staff", "add", "liisa", "--password-stdin"],
                               input=PASSWORD + "\n", env=env)
    assert added.exit_code == 0, added.output

    container = build(load_settings(env))
    try:
        with container.session_factory() as session:
            stored = session.scalars(select(StaffAccount.password_hash)).one()
    finally:
        container.close()
    assert container.deps.password_cost == profiles.RFC_9106_LOW_MEMORY
    cost = argon2.extract_parameters(stored)
    assert cost == profiles.RFC_9106_LOW_MEMORY
    assert (cost.type, cost.memory_cost, cost.time_cost) == (argon2.Type.ID, 64 * 1024, 3)

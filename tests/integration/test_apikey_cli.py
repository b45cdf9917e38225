"""`consent apikey create|list|revoke` on the embedded SQLite default."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from service.cli import main


def test_apikey_commands_print_the_key_once_list_and_revoke(tmp_path: Path) -> None:
    env = {"CONSENT_DATA_DIR": str(tmp_path / "data"), "CONSENT_DATABASE_URL": "",
           "CONSENT_SECRET_KEYS": "cli-test-key-0123456789"}
    runner = CliRunner()
    created = runner.invoke(main, ["apikey", "create", "Uutiskirje", "--role", "reader"], env=env)
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[0]
    assert secret.startswith("crk_") and len(secret) >= 40

    listed = runner.invoke(main, ["apikey", "list"], env=env)
    assert listed.exit_code == 0
    assert "Uutiskirje\treader" in listed.stdout and "active" in listed.stdout
    assert secret not in listed.stdout

    again = runner.invoke(main, ["apikey", "create", "Uutiskirje", "--role", "staff"], env=env)
    assert again.exit_code != 0 and "exists already" in again.output

    revoked = runner.invoke(main, ["apikey", "revoke", "Uutiskirje"], env=env)
    assert revoked.exit_code == 0
    assert "revoked" in runner.invoke(main, ["apikey", "list"], env=env).stdout
    missing = runner.invoke(main, ["apikey", "revoke", "nope"], env=env)
    assert missing.exit_code != 0

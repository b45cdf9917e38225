"""Signed checkpoints of the chains' heads leave the database (a file beside the local mirror,
a mail), and `consent verify` catches a history rewritten from the start against them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from service.domain import chain, rights
from service.domain.models import ChainCheckpoint
from service.runner import run_checkpoint_if_due
from tests.conftest import make_container
from tests.ledger_support import STAFF, consent, opt_in, some_history, tamper, verify


def rewrite_history_from_the_start(container: Any) -> None:
    """Change an old event and rebuild both chains over it, as someone holding the database
    (and the commitment key in it) could: every link then fits the rewritten rows."""
    tamper(container, "UPDATE consent_events SET kind = 'granted' WHERE id = 1",
           "DELETE FROM chain_links", "DELETE FROM chain_heads")
    chain.seal(container.uow(), unlinked=True)


def checkpoint_lines(settings: Any) -> list[dict[str, Any]]:
    path = settings.data_dir / "checkpoints.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_consent_checkpoint_writes_a_signed_checkpoint_beside_the_local_mirror(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    result = consent(settings, "checkpoint")
    assert result.exit_code == 0, result.output
    assert f"written to the file {settings.data_dir / 'checkpoints.jsonl'}" in result.output
    [line] = checkpoint_lines(settings)
    assert line["events"]["position"] == 3 and line["audit"]["position"] == 3
    assert line["key_id"] == container.signer.key_id
    assert container.signer.check(chain.Checkpoint.from_json(line)) == "valid"
    checked = verify(settings)
    assert checked.exit_code == 0, checked.output
    assert "checkpoints checked: 1" in checked.output
    assert (f"events 3, audit 3  signature valid  fits  [the file "
            f"{settings.data_dir / 'checkpoints.jsonl'}, the database's copy]") in checked.output


def test_verify_fails_when_a_checkpoint_disagrees_with_history_rewritten_from_the_start(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    assert consent(settings, "checkpoint").exit_code == 0
    rewrite_history_from_the_start(container)
    result = verify(settings)
    assert result.exit_code == 1
    # The chains alone fit the rewritten rows; only the checkpoint kept outside tells.
    assert "consent events: 3 link(s) checked" in result.output
    assert "does not fit: events" not in result.output
    assert "DOES NOT FIT" in result.output
    assert "events: at position 3 the ledger's hash is" in result.output
    assert "history up to there was rewritten" in result.output
    assert "the events chain stopped matching its checkpoints between positions 1 and 3" in \
        result.output


def test_a_checkpoint_ahead_of_the_ledger_shows_entries_removed_from_the_end(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    assert consent(settings, "checkpoint").exit_code == 0
    tamper(container, "DELETE FROM chain_links WHERE chain = 'audit' AND position = 3",
           "DELETE FROM audit_log WHERE id = 3", "DELETE FROM chain_heads WHERE chain = 'audit'")
    result = verify(settings)
    assert result.exit_code == 1
    assert "audit: it saw position 3, the ledger now ends at 2" in result.output


def test_the_checkpoint_mail_reaches_the_mailbox_and_verify_checks_the_saved_mail(
    client: Any, settings: Any, clock: Any, smtp_sink: Any, tmp_path: Path
) -> None:
    container = make_container(settings, clock, smtp_url=smtp_sink.url,
                               mail_from="rekisteri@klinikka.fi",
                               checkpoint_mailto="omistaja@klinikka.fi")
    try:
        opt_in_and_desk = some_history(client, container)
        assert opt_in_and_desk
        made = container.make_checkpoint()
        container.worker().drain()
        [message] = [m for m in smtp_sink.wait_for(1) if "checkpoint" in str(m["Subject"]).lower()
                     or "tarkistuspiste" in str(m["Subject"]).lower()]
        assert message["To"] == "omistaja@klinikka.fi"
        assert str(message["Subject"]).startswith("Suostumusrekisterin tarkistuspiste")
        [attachment] = list(message.iter_attachments())
        assert attachment.get_filename().startswith("consent-checkpoint-")
        document = json.loads(attachment.get_content())
        assert chain.Checkpoint.from_json(document) == made.checkpoint
        saved = tmp_path / "checkpoint.eml"
        saved.write_bytes(message.as_bytes())

        ok = verify(settings, "--checkpoint", str(saved), "--no-stored")
        assert ok.exit_code == 0, ok.output
        assert "[file checkpoint.eml, the file" in ok.output

        # Someone rewrites the ledger and the database's and the local file's copies too;
        # the mail saved elsewhere still tells.
        rewrite_history_from_the_start(container)
        tamper(container, "DELETE FROM chain_checkpoints")
        (settings.data_dir / "checkpoints.jsonl").unlink()
        caught = verify(settings, "--checkpoint", str(saved))
        assert caught.exit_code == 1
        assert "DOES NOT FIT  [file checkpoint.eml]" in caught.output
    finally:
        container.close()


def test_verify_names_a_forged_or_altered_checkpoint(
    client: Any, container: Any, settings: Any, tmp_path: Path
) -> None:
    some_history(client, container)
    made = container.make_checkpoint()
    forged = made.checkpoint.as_json()
    forged["events"]["position"] = 2  # a checkpoint "agreeing" with a shortened ledger
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged))
    result = verify(settings, "--checkpoint", str(path), "--no-stored")
    assert result.exit_code == 1
    assert "signature invalid  DOES NOT FIT  [file forged.json]" in result.output


def test_a_checkpoint_under_a_rotated_key_still_checks(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    assert consent(settings, "checkpoint").exit_code == 0
    rotated = ",".join(settings.secret_keys) + ",a-newer-key-0123456789abcdef"
    result = verify(settings, CONSENT_SECRET_KEYS=rotated)
    assert result.exit_code == 0, result.output
    assert "signature valid  fits" in result.output
    dropped = verify(settings, CONSENT_SECRET_KEYS="a-newer-key-0123456789abcdef")
    assert dropped.exit_code == 0, dropped.output
    assert "signature unknown key  fits" in dropped.output


def test_a_checkpoint_removed_from_where_it_was_written_is_named(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    assert consent(settings, "checkpoint").exit_code == 0
    (settings.data_dir / "checkpoints.jsonl").write_text("")
    result = verify(settings)
    assert result.exit_code == 2
    assert "was written to the file" in result.output and "is no longer there" in result.output


@pytest.mark.both_databases
def test_the_worker_makes_one_checkpoint_a_day_and_writes_it_out(
    client: Any, container: Any, settings: Any, clock: Any
) -> None:
    some_history(client, container)
    other_worker = make_container(settings, clock)
    try:
        assert run_checkpoint_if_due(container) is not None
        assert run_checkpoint_if_due(other_worker) is None
        container.worker().drain()
        assert len(checkpoint_lines(settings)) == 1
        clock.advance(days=1)
        assert run_checkpoint_if_due(other_worker) is not None
        other_worker.worker().drain()
    finally:
        other_worker.close()
    assert len(checkpoint_lines(settings)) == 2
    with container.session_factory() as session:
        rows = session.scalars(select(ChainCheckpoint).order_by(ChainCheckpoint.id)).all()
    assert len(rows) == 2 and all(row.published_at is not None for row in rows)


def test_worker_once_from_cron_makes_the_days_checkpoint_too(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    first = consent(settings, "worker", "--once")
    assert first.exit_code == 0, first.output
    assert "daily ledger checkpoint: made (events 3, audit log 4)" in first.output
    again = consent(settings, "worker", "--once")
    assert "daily ledger checkpoint: already made today" in again.output
    assert len(checkpoint_lines(settings)) == 1


@pytest.mark.both_databases
def test_after_a_restore_only_the_checkpoints_made_since_the_backup_disagree(
    client: Any, container: Any, settings: Any, tmp_path: Path
) -> None:
    desk = some_history(client, container)[0]
    assert consent(settings, "checkpoint").exit_code == 0
    backup = tmp_path / "backups" / "consent.backup"
    made = consent(settings, "backup", str(backup))
    assert made.exit_code == 0, made.output
    opt_in(client, "later@example.fi", "203.0.113.30")
    rights.erase_contact(container.uow(), container.deps, desk, STAFF, ip="198.51.100.5")
    assert consent(settings, "checkpoint").exit_code == 0
    container.close()  # the web and the worker are stopped for a restore

    restored = consent(settings, "restore", "--force", str(backup))
    assert restored.exit_code == 0, restored.output
    result = verify(settings)
    assert result.exit_code == 1
    # The chains are whole (the erasure made again after the restore is chained on top), and
    # the checkpoint from before the backup fits; the one made after it does not.
    assert "does not fit:" not in result.output and "not in the chain" not in result.output
    assert "removed by erasure" in result.output
    assert "events 3, audit 3  signature valid  fits" in result.output
    assert "events 5, audit 4  signature valid  DOES NOT FIT" in result.output

    # The restore said which stretch of history it removed; once told, verify passes.
    [window] = re.findall(r"consent verify --lost-between (\S+ \S+)", restored.output)
    acknowledged = verify(settings, "--lost-between", *window.split())
    assert acknowledged.exit_code == 0, acknowledged.output
    assert ("events 5, audit 4  signature valid  does not fit: its history was lost with the "
            "restore") in acknowledged.output

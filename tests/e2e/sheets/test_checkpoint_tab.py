"""Checkpoints of the ledger reach a protected "checkpoints" tab of the practice's Sheet, and
`consent verify` reads them back from there (the Sheets fake over HTTP, real gspread)."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from mirrors.checkpoints import CHECKPOINT_TAB, HEADER, PROTECTION_DESCRIPTION
from service.cli import main as consent
from service.domain import chain
from service.domain.models import ChainCheckpoint
from tests.e2e.sheets.support import settle
from tests.fakes.google_sheets import DEFAULT_SERVICE_ACCOUNT, FakeGoogleSheets
from tests.ledger_support import tamper
from tests.register_support import subscribe


def checkpoint_rows(fake: FakeGoogleSheets, spreadsheet_id: str) -> list[list[str]]:
    return [[str(v) for v in row] for row in fake.values(spreadsheet_id, CHECKPOINT_TAB)]


def our_protection(fake: FakeGoogleSheets, spreadsheet_id: str) -> list[dict[str, Any]]:
    return [p for p in fake.protected_ranges(spreadsheet_id, CHECKPOINT_TAB)
            if p.get("description") == PROTECTION_DESCRIPTION]


def test_a_checkpoint_reaches_a_protected_checkpoints_tab_of_the_sheet(
    container: Any, clock: Any, fake: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    subscribe(container, "maija@example.fi")
    made = container.make_checkpoint()
    settle(container, clock)
    assert CHECKPOINT_TAB in fake.tab_titles(spreadsheet_id)
    rows = checkpoint_rows(fake, spreadsheet_id)
    cp = made.checkpoint
    assert rows == [list(HEADER), [
        rows[1][0], "1", cp.events_hash, "0", cp.audit_hash, cp.key_id, cp.public_key,
        cp.signature]]
    [protection] = our_protection(fake, spreadsheet_id)
    assert protection["warningOnly"] is False and set(protection["range"]) == {"sheetId"}
    assert DEFAULT_SERVICE_ACCOUNT in protection["editors"]["users"]

    subscribe(container, "ville@example.fi")
    container.make_checkpoint()
    settle(container, clock)
    rows = checkpoint_rows(fake, spreadsheet_id)
    assert [row[1] for row in rows[1:]] == ["1", "2"]


def test_a_protection_removed_by_hand_is_put_back_with_the_next_checkpoint(
    container: Any, clock: Any, fake: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    container.make_checkpoint()
    settle(container, clock)
    fake.remove_protection(spreadsheet_id, CHECKPOINT_TAB)
    container.make_checkpoint()
    settle(container, clock)
    assert len(our_protection(fake, spreadsheet_id)) == 1
    assert len(checkpoint_rows(fake, spreadsheet_id)) == 3


def test_an_append_whose_answer_was_lost_is_not_written_twice(
    container: Any, clock: Any, fake: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    subscribe(container, "maija@example.fi")
    container.make_checkpoint()
    settle(container, clock)  # the tab exists; the next checkpoint only appends
    container.make_checkpoint()
    fault = fake.fail(503, match=":append", apply_first=True)
    settle(container, clock)
    assert fault.remaining == 0 and len(checkpoint_rows(fake, spreadsheet_id)) == 3
    settle(container, clock, seconds=120)  # the outbox retries after its backoff
    rows = checkpoint_rows(fake, spreadsheet_id)
    assert len(rows) == 3 and rows[1][7] != rows[2][7]
    with container.session_factory() as session:  # the retry found its row and finished
        published = session.scalars(select(ChainCheckpoint.published_at)).all()
    assert len(published) == 2 and all(published)


def test_verify_reads_the_checkpoints_tab_and_names_a_disagreeing_checkpoint(
    container: Any, clock: Any, fake: FakeGoogleSheets, spreadsheet_id: str,
    service_env: dict[str, str],
) -> None:
    subscribe(container, "maija@example.fi")
    subscribe(container, "ville@example.fi")
    container.make_checkpoint()
    settle(container, clock)
    where = f"the tab '{CHECKPOINT_TAB}' of spreadsheet {spreadsheet_id}"

    whole = CliRunner().invoke(consent, ["verify"], env=service_env)
    assert whole.exit_code == 0, whole.output
    assert f"events 2, audit 0  signature valid  fits  [{where}, the database's copy]" in \
        whole.output

    # The database's owner rewrites both chains from the start and the database's own copy;
    # the Sheet's copy disagrees.
    tamper(container, "UPDATE consent_events SET channel = 'sms' WHERE id = 1",
           "DELETE FROM chain_links", "DELETE FROM chain_heads", "DELETE FROM chain_checkpoints")
    chain.seal(container.uow(), unlinked=True)
    caught = CliRunner().invoke(consent, ["verify"], env=service_env)
    assert caught.exit_code == 1
    assert f"DOES NOT FIT  [{where}]" in caught.output
    assert "events: at position 2 the ledger's hash is" in caught.output


def test_a_row_of_the_tab_changed_by_hand_is_named(
    container: Any, clock: Any, fake: FakeGoogleSheets, spreadsheet_id: str,
    service_env: dict[str, str],
) -> None:
    subscribe(container, "maija@example.fi")
    container.make_checkpoint()
    settle(container, clock)
    fake.set_cell(spreadsheet_id, CHECKPOINT_TAB, "B2", "0")
    result = CliRunner().invoke(consent, ["verify", "--no-stored"], env=service_env)
    assert result.exit_code == 1
    assert "events 0, audit 0  signature invalid  DOES NOT FIT" in result.output

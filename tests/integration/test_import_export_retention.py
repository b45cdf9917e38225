"""Moving an old register in (import), writing it out (export), and retention rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from service.cli import main
from service.domain import importer, rights
from service.domain.exporting import export_register
from service.domain.ledger import Actor
from service.domain.models import (
    ActorType,
    AuditEntry,
    ConsentEvent,
    Contact,
    Evidence,
    Subscription,
)
from service.domain.retention import apply_retention
from tests.register_support import subscribe
from tests.staff_support import audit_actions

STAFF = Actor(ActorType.STAFF, "1:liisa")
SHEET = (
    "Sähköposti;Nimi;Puhelin;Päivämäärä;Lähde\n"
    "maija@example.fi;Maija;040 123 4567;31.5.2024;vastaanotto\n"
    "pekka@example.fi;Pekka;;2024-06-01;nettisivu\n"
    "not-an-address;X;;;\n"
    "MAIJA@example.fi;Maija again;;;\n"
    "liisa@example.fi;Liisa;;32.13.2024;\n"
)


def run_import(container: Any, text: str, *, dry_run: bool = False) -> importer.ImportReport:
    _, rows = importer.read_rows(text)
    return importer.import_rows(container.uow(), container.deps, rows, notice_version=1,
                                file_name="rekisteri.csv", dry_run=dry_run)


def test_import_maps_finnish_columns_and_reports_each_rejected_row(container: Any) -> None:
    report = run_import(container, SHEET)
    assert report.imported == 2
    assert [line for line, _ in report.rejected] == [4, 5, 6]
    reasons = dict(report.rejected)
    assert "email" in reasons[4] and "line 2" in reasons[5] and "consent date" in reasons[6]
    with container.session_factory() as session:
        events = list(session.scalars(select(ConsentEvent)))
        proof = session.scalars(select(Evidence)).first()
    assert {(e.kind, e.method, e.source, e.notice_version) for e in events} == {
        ("granted", "import", "import", 1)}
    assert proof is not None and json.loads(proof.fields_json or "{}")["consented_at"] == \
        "2024-05-31"
    assert audit_actions(container) == ["import"]


def test_dry_run_import_changes_nothing(container: Any) -> None:
    report = run_import(container, SHEET, dry_run=True)
    assert report.imported == 2
    with container.session_factory() as session:
        assert session.scalars(select(Contact)).all() == []
    assert audit_actions(container) == []


def test_import_never_resubscribes_a_withdrawn_address(container: Any) -> None:
    public_id = subscribe(container, "maija@example.fi")
    rights.withdraw(container.uow(), container.deps, public_id, ["email"], STAFF, ip=None)
    report = run_import(container, "email\nmaija@example.fi\n")
    assert report.imported == 0 and "withdrew" in report.rejected[0][1]
    with container.session_factory() as session:
        assert session.scalars(select(Subscription.state)).one() == "unsubscribed"


def test_import_of_an_erased_address_is_refused(container: Any) -> None:
    public_id = subscribe(container, "maija@example.fi")
    rights.erase_contact(container.uow(), container.deps, public_id, STAFF, ip=None)
    report = run_import(container, "email\n Maija@Example.FI \n")
    assert report.imported == 0
    assert "erased on request" in report.rejected[0][1]


def test_import_skips_people_already_on_the_register(container: Any) -> None:
    subscribe(container, "maija@example.fi")
    report = run_import(container, "email\nmaija@example.fi\n")
    assert report.imported == 0 and report.skipped == [(2, "already on the register")]


@pytest.mark.both_databases
def test_import_of_a_known_address_fills_missing_details_and_never_overwrites(
    client: Any, container: Any
) -> None:
    # Asked to join on the website (pending, a name, no phone), then found in the old register.
    assert client.post("/api/v1/subscribe", json={
        "email": "maija@example.fi", "name": "Maija", "consent": True}).status_code == 202
    report = run_import(container, "email;name;phone\nmaija@example.fi;Someone Else;040 123 4567\n")
    assert report.imported == 1
    with container.session_factory() as session:
        person = session.scalars(select(Contact)).one()
        assert (person.name, person.phone) == ("Maija", "+358401234567")
        assert session.scalars(select(Subscription.state)).one() == "subscribed"


def test_export_writes_the_register_and_is_audited_once(container: Any) -> None:
    subscribe(container, "maija@example.fi", name="Maija")
    subscribe(container, "=cmd@example.fi", name="=HYPERLINK(1)")
    out: list[str] = []
    count = export_register(container.uow, container.deps, channel="email", fmt="csv",
                            write=out.append)
    text = "".join(out)
    # The byte order mark first: Excel then reads the file as UTF-8.
    assert count == 2 and text.startswith("\ufeffcontact_id,name,email")
    assert "'=HYPERLINK(1)" in text and "maija@example.fi" in text
    out.clear()
    export_register(container.uow, container.deps, channel="email", fmt="json",
                    write=out.append)
    assert [r["email"] for r in json.loads("".join(out))] == ["maija@example.fi",
                                                                "=cmd@example.fi"]
    assert audit_actions(container) == ["register.export", "register.export"]


@pytest.mark.both_databases
def test_retention_removes_unconfirmed_opt_ins_after_the_period(client: Any, container: Any,
                                                                clock: Any) -> None:
    assert client.post("/api/v1/subscribe", json={"email": "old@example.fi",
                                                  "consent": True}).status_code == 202
    kept = subscribe(container, "kept@example.fi")
    clock.advance(days=31)
    assert client.post("/api/v1/subscribe", json={"email": "new@example.fi",
                                                  "consent": True}).status_code == 202
    report = apply_retention(container.uow(), container.deps, pending_days=30, ip_days=365)
    assert report.pending_removed == 1
    with container.session_factory() as session:
        live = set(session.scalars(select(Contact.email).where(Contact.erased_at.is_(None))))
        events = len(session.scalars(select(ConsentEvent)).all())
    assert live == {"kept@example.fi", "new@example.fi"}
    assert events == 3  # the ledger keeps its events
    assert kept
    assert audit_actions(container)[-1] == "retention.run"


@pytest.mark.both_databases
def test_retention_clears_old_ip_addresses_only(client: Any, container: Any,
                                                clock: Any) -> None:
    assert client.post("/api/v1/subscribe", json={"email": "old@example.fi", "consent": True},
                       environ_base={"REMOTE_ADDR": "203.0.113.7"}).status_code == 202
    with container.uow() as uow:
        from service.domain import audit

        audit.append(uow.session, STAFF, "contact.view", ip="203.0.113.8",
                     now=container.clock.now())
        uow.commit()
    clock.advance(days=400)
    assert client.post("/api/v1/subscribe", json={"email": "new@example.fi", "consent": True},
                       environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code == 202
    report = apply_retention(container.uow(), container.deps, pending_days=1000, ip_days=365)
    assert (report.evidence_ips_cleared, report.audit_ips_cleared) == (1, 1)
    with container.session_factory() as session:
        assert set(session.scalars(select(Evidence.ip))) == {None, "198.51.100.9"}
        assert session.scalars(select(AuditEntry.ip).where(
            AuditEntry.action == "contact.view")).one() is None


def test_cli_import_export_and_retention_on_the_embedded_default(tmp_path: Path) -> None:
    env = {"CONSENT_DATA_DIR": str(tmp_path / "data"), "CONSENT_DATABASE_URL": "",
           "CONSENT_SECRET_KEYS": "cli-test-key-0123456789"}
    sheet = tmp_path / "rekisteri.csv"
    sheet.write_text(SHEET, encoding="utf-8")
    runner = CliRunner()
    dry = runner.invoke(main, ["import", str(sheet), "--notice", "1", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "line 4: rejected" in dry.stdout and "would import 2" in dry.output
    done = runner.invoke(main, ["import", str(sheet), "--notice", "1"], env=env)
    assert done.exit_code == 0 and "imported 2" in done.output
    out = tmp_path / "register.json"
    exported = runner.invoke(main, ["export", "--format", "json", "--output", str(out)], env=env)
    assert exported.exit_code == 0, exported.output
    assert {r["email"] for r in json.loads(out.read_text())} == {"maija@example.fi",
                                                                 "pekka@example.fi"}
    kept = runner.invoke(main, ["retention", "--dry-run"], env=env)
    assert kept.exit_code == 0 and "would remove 0" in kept.stdout


def test_cli_staff_add_reads_the_password_from_stdin(tmp_path: Path) -> None:
    env = {"CONSENT_DATA_DIR": str(tmp_path / "data"), "CONSENT_DATABASE_URL": "",
           "CONSENT_SECRET_KEYS": "cli-test-key-0123456789"}
    runner = CliRunner()
    made = runner.invoke(main, ["staff", "add", "omistaja", "--admin", "--password-stdin"],
                         input="a long enough secret\n", env=env)
    assert made.exit_code == 0, made.output
    assert "'omistaja' (admin) created" in made.stdout
    short = runner.invoke(main, ["staff", "add", "x", "--password-stdin"], input="short\n",
                          env=env)
    assert short.exit_code != 0 and "at least 12" in short.output



def test_cli_lists_accounts_and_resets_a_lost_totp(tmp_path: Path) -> None:
    env = {"CONSENT_DATA_DIR": str(tmp_path / "data"), "CONSENT_DATABASE_URL": "",
           "CONSENT_SECRET_KEYS": "cli-test-key-0123456789"}
    runner = CliRunner()
    runner.invoke(main, ["staff", "add", "omistaja", "--admin", "--password-stdin"],
                  input="a long enough secret\n", env=env)
    listed = runner.invoke(main, ["staff", "list"], env=env)
    assert listed.exit_code == 0 and "omistaja\tadmin\tno totp\tactive" in listed.stdout
    reset = runner.invoke(main, ["staff", "reset-totp", "omistaja"], env=env)
    assert reset.exit_code == 0 and "set up again" in reset.stdout
    missing = runner.invoke(main, ["staff", "reset-totp", "nobody"], env=env)
    assert missing.exit_code != 0 and "no account" in missing.output

"""A restore drill: back up, erase, opt in, restore; nobody erased since the backup comes back."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from service import cli
from service.bootstrap import SystemClock
from service.domain import ledger, rights, webhooks_out
from service.domain.ledger import Actor
from service.domain.mirror.queue import FULL_MIRROR_WANTED
from service.domain.models import (
    ActorType,
    AuditEntry,
    ConsentEvent,
    Contact,
    Evidence,
    OutboxItem,
    ServiceState,
    Subscription,
    WebhookDelivery,
)
from service.domain.outbox_worker import OutboxWorker
from service.domain.webhooks_out.emission import WEBHOOK_EVENT_KIND
from service.sent_mail import forget_files
from service.web import create_app
from tests.conftest import REQUIRE_PG, make_container
from tests.register_support import subscribe

# Backups and restores are made by each backend's own tools.
pytestmark = pytest.mark.both_databases

CONFIRM_LINK = re.compile(r"https://consent\.example\.fi(/confirm/[A-Za-z0-9_.\-]+)")
STAFF = Actor(ActorType.STAFF, "1:omistaja")


def _cli(settings: Any, *args: str) -> Any:
    """Run `consent ARGS` as an operator would, configured by the same environment."""
    return CliRunner().invoke(cli.main, list(args), env=dict(settings.extra),
                              catch_exceptions=False)


def _erase(container: Any, public_id: str) -> None:
    rights.erase_contact(container.uow(), container.deps, public_id, STAFF, ip="192.0.2.1",
                         forget_messages=forget_files(container.mailer))


def _opt_in_and_confirm(container: Any, client: Any, address: str) -> str:
    """Opt in through the form, deliver the confirmation mail, press its button."""
    answer = client.post("/api/v1/subscribe", json={"email": address, "consent": True,
                                                    "name": "Anna Asiakas"},
                         environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert answer.status_code == 202
    container.worker().drain()
    for path in container.settings.outbox_dir.glob("*.eml"):
        link = CONFIRM_LINK.search(path.read_text(errors="replace").replace("=\n", ""))
        if link:
            assert client.post(link.group(1)).status_code == 200
            break
    else:  # pragma: no cover - the mail is always written
        raise AssertionError("no confirmation mail")
    with container.session_factory() as session:
        contact = ledger.find_contact_by_email(session, address)
        assert contact is not None
        return contact.public_id


def _mirrored(container: Any) -> str:
    return json.dumps(container.mirror.read())


@pytest.fixture
def pg_tools(settings: Any) -> None:
    if settings.is_postgresql and not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        if REQUIRE_PG:
            raise RuntimeError("pg_dump and pg_restore are needed: apt-get install "
                               "postgresql-client")
        pytest.skip("the PostgreSQL client tools are not installed")


def test_restore_keeps_every_erasure_made_since_the_backup(
    settings: Any, clock: Any, tmp_path: Path, pg_tools: None
) -> None:
    container = make_container(settings, clock)
    client = create_app(container=container).test_client()
    # A CRM that wants every event with personal data; it is down, so deliveries wait queued.
    webhooks_out.add_endpoint(container.uow(), "http://127.0.0.1:9/hook", ["all"],
                            now=clock.now(), resolve=lambda _host: ["127.0.0.1"],
                            allow_private=True, include_personal_data=True)
    anna = _opt_in_and_confirm(container, client, "anna@example.fi")
    bertta = subscribe(container, "bertta@example.fi", name="Bertta")
    doris = subscribe(container, "doris@example.fi")
    _erase(container, doris)
    container.sync_register()
    assert "anna@example.fi" in _mirrored(container)
    with container.session_factory() as session:
        queued_about_anna = session.scalars(select(OutboxItem).where(
            OutboxItem.contact_id == session.scalars(select(Contact.id).where(
                Contact.public_id == anna)).one())).all()
    assert queued_about_anna, "the welcome mail waits in the queue when the backup is taken"

    backup_file = tmp_path / "backups" / "consent.dump"
    made = _cli(settings, "backup", str(backup_file))
    assert made.exit_code == 0, made.output
    assert backup_file.stat().st_mode & 0o077 == 0, "a backup is readable by its owner only"
    journal_beside = backup_file.with_name("consent.dump.erasures.jsonl")
    assert journal_beside.exists(), "the erasure journal is kept with the backup"

    clock.advance(hours=1)
    _erase(container, anna)
    eero = subscribe(container, "eero@example.fi")
    _erase(container, eero)
    subscribe(container, "cecilia@example.fi")
    container.sync_register()
    assert "cecilia@example.fi" in _mirrored(container)
    container.close()

    refused = CliRunner().invoke(cli.main, ["restore", str(backup_file)],
                                 env=dict(settings.extra))
    assert refused.exit_code != 0 and "--force" in refused.output
    restored = _cli(settings, "restore", "--force", str(backup_file))
    assert restored.exit_code == 0, restored.output
    assert "restoring the database: 100%" in restored.output
    assert "re-applying erasures: 3 of 3" in restored.output
    assert "1 person(s) erased again, 1 already erased in the backup, 1 not in it" \
        in restored.output

    after = make_container(settings, clock)
    try:
        fan_out = {WEBHOOK_EVENT_KIND: after.handlers()[WEBHOOK_EVENT_KIND]}
        # Deliveries made, none sent; the restore's erasures were made at the real time.
        OutboxWorker(after.session_factory, SystemClock(), fan_out).drain()
        with after.session_factory() as session:
            gone = ledger.find_contact(session, anna)
            assert gone is not None and gone.erased_at is not None
            assert (gone.email, gone.name) == (None, None)
            assert ledger.find_contact_by_email(session, "anna@example.fi") is None
            assert not session.scalars(select(Evidence).where(
                Evidence.contact_id == gone.id)).all()
            assert not session.scalars(select(OutboxItem).where(
                OutboxItem.contact_id == gone.id)).all(), "no mail to them is queued"
            waiting = session.scalars(select(WebhookDelivery).where(
                WebhookDelivery.contact_public_id == anna,
                WebhookDelivery.status == "pending")).all()
            assert [d.event_type for d in waiting] == ["contact.erased"], \
                "only the notice of their erasure, by id, is queued about them"
            assert all("anna" not in d.payload_json for d in session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.status == "pending")))
            assert rights.is_erased(session, "anna@example.fi")
            assert rights.is_erased(session, "eero@example.fi"), \
                "an address erased after the backup stays refused though the backup never had it"
            assert ledger.find_contact_by_email(session, "cecilia@example.fi") is None, \
                "a restore goes back to the backup: what happened after it is gone, erasures aside"
            kept = ledger.find_contact_by_email(session, "bertta@example.fi")
            assert kept is not None and kept.public_id == bertta and kept.name == "Bertta"
            assert session.get(Subscription, (kept.id, "email")).state == "subscribed"
            assert [e.kind for e in session.scalars(select(ConsentEvent).where(
                ConsentEvent.contact_id == kept.id))] == ["granted"]
            erased_doris = ledger.find_contact(session, doris)
            assert erased_doris is not None and erased_doris.erased_at is not None
            assert session.scalars(select(AuditEntry.actor_id).where(
                AuditEntry.action == "contact.erase",
                AuditEntry.contact_public_id == anna)).all() == ["restore"]
            assert session.get(ServiceState, FULL_MIRROR_WANTED) is not None, \
                "a full mirror pass is asked for"
        assert not any("anna" in p.read_text(errors="replace")
                       for p in after.settings.outbox_dir.glob("*.eml"))
        after.sync_register()
        mirrored = _mirrored(after)
        assert "bertta@example.fi" in mirrored
        assert "anna@example.fi" not in mirrored and "cecilia@example.fi" not in mirrored
    finally:
        after.close()

    journal = settings.erasure_journal
    lines = journal.read_text().splitlines()
    assert len(lines) == 3 and "@" not in journal.read_text(), "hashes and ids, no address"
    assert journal.stat().st_mode & 0o077 == 0


def test_restore_refuses_a_backup_of_the_other_kind_of_database(
    settings: Any, tmp_path: Path
) -> None:
    foreign = tmp_path / "foreign.dump"
    foreign.write_bytes(b"PGDMP" if settings.is_sqlite else b"SQLite format 3\x00")
    answer = CliRunner().invoke(cli.main, ["restore", "--force", str(foreign)],
                                env=dict(settings.extra))
    assert answer.exit_code != 0
    assert "CONSENT_DATABASE_URL" in answer.output

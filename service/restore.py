"""Restoring a backup without bringing back anyone erased since it was taken (GDPR Art. 17).

The database is put back as the backup has it; then every erasure in the erasure journal is
applied again: a contact the backup still holds is erased as staff would erase it (consent
withdrawn, details, evidence and queued mail removed, endpoints told), a queued webhook that
was about to tell an endpoint about them is dropped, every erased address's keyed hash is
remembered again, and a full mirror pass is queued so the Sheet loses their rows too.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import delete, func, inspect, select, text
from sqlalchemy import table as sql_table

from service import db
from service import erasure_journal as journal_file
from service.backup import Progress, journal_copy, libpq_connection, pg_tool, sqlite_file
from service.bootstrap import Container, build
from service.domain import ledger
from service.domain.actors import Actor
from service.domain.dependencies import ErasureRecord
from service.domain.models import (
    ActorType,
    ErasedAddress,
    OutboxItem,
    OutboxStatus,
    WebhookDelivery,
)
from service.domain.ports import Clock
from service.domain.rights import erase_contact, erasure_key_id
from service.domain.webhooks_out.delivery import DELIVERY_KIND
from service.domain.webhooks_out.emission import drop_queued_events
from service.settings import Settings

RESTORE_ACTOR = Actor(ActorType.SYSTEM, "restore")
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_CUSTOM_MAGIC = b"PGDMP"
KINDS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
# Fixed names (never input): what makes a database one a restore must not overwrite unasked.
TABLES_WORTH_KEEPING = {
    "contacts": "contact(s)", "consent_events": "consent event(s)",
    "staff_accounts": "staff account(s)", "api_keys": "API key(s)",
    "inbound_sources": "form source(s)", "webhook_endpoints": "webhook endpoint(s)",
}


class RestoreRefused(RuntimeError):
    """The restore would do harm as asked (or cannot work); the message says what to do."""


def _quiet(_message: str) -> None:
    """Report nothing."""


def backup_kind(path: Path) -> str:
    """Tell which database a backup file is of: "sqlite" or "postgresql"."""
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_CUSTOM_MAGIC):
        return "postgresql"
    raise RestoreRefused(f"{path} is not a backup made by `consent backup` (neither a SQLite "
                         "database nor a pg_dump custom-format archive)")


def _configured_kind(settings: Settings) -> str:
    return "sqlite" if settings.is_sqlite else "postgresql"


def database_holdings(settings: Settings) -> dict[str, int]:
    """Return what the configured database holds, by table; empty when it holds nothing.

    A database that was only created (migrated, never used) holds nothing worth keeping.
    """
    if settings.is_sqlite and not sqlite_file(settings).exists():
        return {}
    engine = db.make_engine(settings.database_url)
    try:
        names = set(inspect(engine).get_table_names())
        held = {}
        with engine.connect() as conn:
            for table in sorted(names & set(TABLES_WORTH_KEEPING)):
                count = int(conn.execute(
                    select(func.count()).select_from(sql_table(table))).scalar() or 0)
                if count:
                    held[TABLES_WORTH_KEEPING[table]] = count
        return held
    finally:
        engine.dispose()


def _other_connections(settings: Settings) -> int:
    engine = db.make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )).scalar() or 0)
    finally:
        engine.dispose()


def _check_sqlite_backup(path: Path) -> None:
    source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        verdict = source.execute("PRAGMA quick_check").fetchone()
        tables = {row[0] for row in source.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise RestoreRefused(f"{path} cannot be read as a SQLite database: {exc}") from None
    finally:
        source.close()
    if not verdict or verdict[0] != "ok":
        raise RestoreRefused(f"{path} is damaged (SQLite's check says: {verdict})")
    if "alembic_version" not in tables or "contacts" not in tables:
        raise RestoreRefused(f"{path} is a SQLite database, but not one of this service")


def _restore_sqlite(settings: Settings, path: Path, progress: Progress) -> None:
    """Copy the backup over the live file with SQLite's backup API (the WAL stays coherent)."""
    _check_sqlite_backup(path)
    live = sqlite_file(settings)
    live.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    destination = sqlite3.connect(live, timeout=30)
    last = -1

    def report(_status: int, remaining: int, total: int) -> None:
        nonlocal last
        percent = 100 * (total - remaining) // total if total else 100
        if percent // 10 != last // 10:
            progress(f"restoring the database: {percent}% ({total - remaining} of {total} pages)")
            last = percent

    try:
        source.backup(destination, pages=2048, progress=report)
    finally:
        destination.close()
        source.close()
    live.chmod(0o600)


def _restore_postgresql(settings: Settings, path: Path, progress: Progress) -> None:
    """Run pg_restore --clean --if-exists in one transaction, reporting its items as it goes."""
    restore_tool = pg_tool("pg_restore")
    listing = subprocess.run(  # noqa: S603 - fixed program, our own arguments
        [restore_tool, "--list", str(path)], capture_output=True, text=True, check=False,
    )
    if listing.returncode != 0:
        raise RestoreRefused(f"{path} cannot be read by pg_restore: "
                             f"{listing.stderr.strip()[:500]}")
    total = sum(1 for line in listing.stdout.splitlines()
                if line.strip() and not line.startswith(";"))
    others = _other_connections(settings)
    if others:
        progress(f"warning: {others} other connection(s) to the database are open; if the "
                 "restore waits, stop the web and the worker")
    dsn, env = libpq_connection(settings)
    command = [restore_tool, "--clean", "--if-exists", "--no-owner", "--no-privileges",
               "--single-transaction", "--exit-on-error", "--verbose", f"--dbname={dsn}",
               str(path)]
    done = 0
    last = -1
    errors: list[str] = []
    with subprocess.Popen(  # noqa: S603 - fixed program, our own arguments
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    ) as process:
        assert process.stderr is not None
        for line in process.stderr:
            if "error" in line.lower():
                errors.append(line.strip())
            if line.startswith(("pg_restore: creating", "pg_restore: processing data",
                                "pg_restore: executing")):
                done += 1
                percent = min(100, 100 * done // max(total, 1))
                if percent // 10 != last // 10:
                    progress(f"restoring the database: {percent}% ({done} of about {total} "
                             "items)")
                    last = percent
        returncode = process.wait()
    if returncode != 0:
        raise RuntimeError("pg_restore failed; the database was left as it was: "
                           + " | ".join(errors)[:800])


def restore_database(settings: Settings, path: Path, *, force: bool,
                     progress: Progress = _quiet) -> str:
    """Put the backup at path in place of the configured database; return its kind.

    Refused when the backup is of the other kind of database, and, unless force, when the
    configured database holds data already.
    """
    kind = backup_kind(path)
    wanted = _configured_kind(settings)
    if kind != wanted:
        raise RestoreRefused(
            f"{path} is a {KINDS[kind]} backup but CONSENT_DATABASE_URL names a "
            f"{KINDS[wanted]} database: point CONSENT_DATABASE_URL at a {KINDS[kind]} database"
        )
    held = database_holdings(settings)
    if held and not force:
        what = ", ".join(f"{count} {name}" for name, count in held.items())
        raise RestoreRefused(
            f"the configured {KINDS[wanted]} database holds data ({what}); restoring replaces "
            "everything in it. Stop the web and the worker, back it up as it is now, then run "
            "again with --force"
        )
    progress(f"restoring a {KINDS[kind]} backup of {path.stat().st_size:,} bytes...")
    if kind == "sqlite":
        _restore_sqlite(settings, path, progress)
    else:
        _restore_postgresql(settings, path, progress)
    return kind


def migrate(settings: Settings) -> int:
    """Bring a restored database's schema up to date (a backup may be older than the code)."""
    engine = db.make_engine(settings.database_url)
    try:
        pending = db.pending_migrations(engine)
        if pending:
            db.upgrade(engine, settings.data_dir)
        return len(pending)
    finally:
        engine.dispose()


def gather_journal(settings: Settings, backup_file: Path,
                   extra: Sequence[Path] = ()) -> list[ErasureRecord]:
    """Read the data dir's journal, the copy beside the backup and any others named.

    Erasures found only elsewhere are added to the data dir's journal, so a later restore
    still knows them.
    """
    live_path = settings.erasure_journal
    live = journal_file.read(live_path) if live_path.exists() else \
        journal_file.JournalContents([], 0)
    others = [journal_file.read(p) for p in
              dict.fromkeys([journal_copy(backup_file), *extra])
              if p.exists() and p.resolve() != live_path.resolve()]
    everything = journal_file.merge([live, *others])
    known = {(e.contact_id, e.address_hash) for e in live.erasures}
    journal_file.append(live_path, [e for e in everything
                                    if (e.contact_id, e.address_hash) not in known])
    return everything


@dataclass(frozen=True)
class Reapplied:
    """What applying the journal again did."""

    recorded: int
    erased_again: int
    already_erased: int
    not_in_backup: int
    hashes_added: int
    hashes_unusable: int
    webhooks_dropped: int


def _drop_queued_webhooks(container: Container, public_id: str) -> int:
    """Drop webhooks queued about an erased person before their erasure, with their items.

    A restored queue may still hold "consent.requested" with the person's address for a CRM;
    sending it now would put them back there. The erasure's own contact.erased stays.
    """
    with container.uow() as uow:
        session = uow.session
        stale = list(session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.contact_public_id == public_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.event_type != "contact.erased",
        )))
        ids = {d.id for d in stale}
        for delivery in stale:
            delivery.status = "skipped"
        if ids:
            for item in session.scalars(select(OutboxItem).where(
                    OutboxItem.kind == DELIVERY_KIND,
                    OutboxItem.status.in_([OutboxStatus.PENDING, OutboxStatus.RUNNING]))):
                if json.loads(item.payload_json).get("delivery_id") in ids:
                    session.execute(delete(OutboxItem).where(OutboxItem.id == item.id))
        not_fanned_out = drop_queued_events(session, public_id)
        uow.commit()
    return len(ids) + not_fanned_out


def _remember_hash(container: Container, erasure: ErasureRecord) -> str:
    """Keep an erased address's hash; say "added", "known" or "unusable" (another key)."""
    if erasure.address_hash is None:
        return "known"
    now = container.clock.now()
    with container.uow() as uow:
        session = uow.session
        if erasure.key_id is not None and erasure.key_id != erasure_key_id(session, now):
            uow.commit()
            return "unusable"
        if session.get(ErasedAddress, erasure.address_hash) is not None:
            uow.commit()
            return "known"
        session.add(ErasedAddress(address_hash=erasure.address_hash,
                                  erased_at=erasure.erased_at))
        uow.commit()
    return "added"


def reapply_erasures(container: Container, erasures: Sequence[ErasureRecord], *,
                     progress: Progress = _quiet) -> Reapplied:
    """Erase again everyone the journal names whom the restored database still holds."""
    from service.sent_mail import forget_files

    # The journal has these already; erasing again must not write them twice.
    deps = replace(container.deps, erasure_journal=None)
    counts = {"erased": 0, "already": 0, "absent": 0, "added": 0, "unusable": 0, "dropped": 0}
    for number, erasure in enumerate(erasures, start=1):
        with container.uow() as uow:
            contact = ledger.find_contact(uow.session, erasure.contact_id)
            state = "absent" if contact is None else \
                "already" if contact.erased_at is not None else "live"
        if state == "live":
            erase_contact(container.uow(), deps, erasure.contact_id, RESTORE_ACTOR, ip=None,
                          forget_messages=forget_files(container.mailer))
            counts["erased"] += 1
            counts["dropped"] += _drop_queued_webhooks(container, erasure.contact_id)
        else:
            counts[state] += 1
        outcome = _remember_hash(container, erasure)
        if outcome in ("added", "unusable"):
            counts[outcome] += 1
        if number % 50 == 0 or number == len(erasures):
            progress(f"re-applying erasures: {number} of {len(erasures)}")
    return Reapplied(
        recorded=len(erasures), erased_again=counts["erased"],
        already_erased=counts["already"], not_in_backup=counts["absent"],
        hashes_added=counts["added"], hashes_unusable=counts["unusable"],
        webhooks_dropped=counts["dropped"],
    )


@dataclass(frozen=True)
class RestoreReport:
    """What a restore did."""

    kind: str
    migrations_applied: int
    reapplied: Reapplied


def restore(settings: Settings, path: Path, *, force: bool = False,
            journals: Sequence[Path] = (), progress: Progress = _quiet,
            clock: Clock | None = None) -> RestoreReport:
    """Restore the backup at path, then apply every journalled erasure again.

    Afterwards a full mirror pass is queued: the mirror may still show people the backup does
    not hold, or hold people erased since.
    """
    if not path.is_file():
        raise RestoreRefused(f"no backup file at {path}")
    kind = restore_database(settings, path, force=force, progress=progress)
    applied = migrate(settings)
    progress(f"database schema: {applied} migration(s) applied" if applied
             else "database schema: up to date")
    erasures = gather_journal(settings, path, journals)
    progress(f"erasure journal: {len(erasures)} erasure(s) recorded")
    container = build(settings, clock=clock, migrate=False)
    try:
        reapplied = reapply_erasures(container, erasures, progress=progress)
        container.schedule_mirror_pass()
    finally:
        container.close()
    return RestoreReport(kind, applied, reapplied)

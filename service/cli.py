"""The `consent` command."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from service import cli_ledger as ledger_commands
from service import cli_rights as rights_commands
from service import cli_webhooks as webhook_commands
from service import cli_wiring


@click.group()
def main() -> None:
    """Consent register of a small practice: opt-ins, proof of consent, the register."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
def serve(host: str, port: int, threads: int) -> None:
    """Run the web service with an in-process worker (the embedded defaults)."""
    from service.runner import serve as run

    container = cli_wiring.container()
    run(container, host=host, port=port, threads=threads)


@main.command()
@click.option("--once", is_flag=True,
              help="Process what is due now (the day's retention run and ledger checkpoint "
                   "included), then exit.")
def worker(once: bool) -> None:
    """Run background work: mail, mirror passes, webhooks, chaining the ledger, daily jobs."""
    from service.runner import run_checkpoint_if_due, run_retention_if_due, run_worker

    container = cli_wiring.container()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if once:
            # Run from cron instead of as a service, --once must not skip the retention rules.
            report = run_retention_if_due(container)
            if report is None:
                click.echo("daily retention: already done today")
            else:
                click.echo(f"daily retention: removed {report.pending_removed} unconfirmed "
                           f"opt-in(s), cleared {report.evidence_ips_cleared} evidence and "
                           f"{report.audit_ips_cleared} audit-log IP address(es)")
            sealed = container.seal_ledger()
            assert sealed is not None  # it waits for another sealer, so it always reports
            click.echo(f"ledger: {sealed.events} event(s) and {sealed.audit} audit entr(ies) "
                       "chained")
            made = run_checkpoint_if_due(container)
            click.echo("daily ledger checkpoint: " + (
                "already made today" if made is None else
                f"made (events {made.checkpoint.events_position}, audit log "
                f"{made.checkpoint.audit_position})"))
            handled = container.worker().drain()
            click.echo(f"handled {handled} item(s)")
            return
        with contextlib.suppress(KeyboardInterrupt):
            run_worker(container, stop)
    finally:
        container.close()


@main.command()
@click.option("--check", is_flag=True, help="Compare the mirror with the register; write nothing.")
def sync(check: bool) -> None:
    """Run one full mirror pass now (works while the service runs)."""
    from service.domain.outbox_worker import RetryLater

    container = cli_wiring.container()
    mirror_name = type(container.mirror).__name__
    click.echo(f"reading the register and the mirror ({mirror_name})...")
    try:
        report = container.sync_register(check_only=check, wait=True)
    except RetryLater as exc:
        raise click.ClickException(f"the mirror pass failed: {exc}") from None
    finally:
        container.close()
    if check:
        click.echo(("drift: " if report.drift else "in step: ")
                   + f"{report.added} row(s) missing, {report.changed} differing, "
                   f"{report.removed} extra, {report.requests} API request(s)")
        if report.drift:
            sys.exit(1)
        return
    click.echo(f"done: {report.added} row(s) added, {report.changed} changed, "
               f"{report.removed} removed, {report.requests} API request(s)")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (under a lock: safe when several containers start)."""
    from service import db as database

    settings = cli_wiring.settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = database.make_engine(settings.database_url)
    before = database.pending_migrations(engine)
    database.upgrade(engine, settings.data_dir)
    click.echo(f"database is up to date ({len(before)} migration(s) applied)")


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup(path: Path) -> None:
    """Write a consistent copy of the database to PATH, and the erasure journal beside it."""
    from service.backup import backup as run_backup

    settings = cli_wiring.settings()
    try:
        report = run_backup(settings, path, progress=lambda m: click.echo(m, err=True))
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backup written to {path} ({report.size:,} bytes)")
    click.echo(f"erasure journal copied to {report.journal}: keep it with the backup")


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True,
              help="Replace a database that holds data (stop the web and the worker first).")
@click.option("--journal", "journals", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Another copy of the erasure journal to apply too (repeatable). The data "
                   "directory's journal and PATH.erasures.jsonl are always read.")
def restore(path: Path, force: bool, journals: tuple[Path, ...]) -> None:
    """Restore the backup at PATH, then erase again everyone erased since it was taken."""
    from sqlalchemy.exc import SQLAlchemyError

    from service.restore import RestoreRefused
    from service.restore import restore as run_restore

    settings = cli_wiring.settings()
    try:
        report = run_restore(settings, path, force=force, journals=journals,
                             progress=lambda m: click.echo(m, err=True))
    except (RestoreRefused, RuntimeError, SQLAlchemyError) as exc:
        raise click.ClickException(str(exc)) from None
    again = report.reapplied
    click.echo(f"restored {path}; erasures re-applied: {again.erased_again} person(s) erased "
               f"again, {again.already_erased} already erased in the backup, "
               f"{again.not_in_backup} not in it (their addresses stay refused), "
               f"{again.webhooks_dropped} queued webhook(s) about them dropped")
    if again.hashes_unusable:
        click.echo(f"warning: {again.hashes_unusable} erased address(es) were hashed under "
                   "another erasure key than this database's and cannot be recognised; the "
                   "people themselves are erased", err=True)
    click.echo("a full mirror pass is queued: start the worker (or run `consent sync`) so the "
               "Sheet matches the restored register")
    taken = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    until = datetime.now(UTC) + timedelta(seconds=1)
    click.echo("ledger checkpoints made after the backup no longer fit the restored ledger; "
               "once checked, verify with: consent verify --lost-between "
               f"{taken:%Y-%m-%dT%H:%M:%S} {until:%Y-%m-%dT%H:%M:%S} (UTC; the first is when "
               "the backup was taken, here its file's time)")


@main.group()
def apikey() -> None:
    """API keys for the register API and the staff API."""


@apikey.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(["reader", "staff"]), required=True,
              help="reader: the register only; staff: also record withdrawals and consents.")
def apikey_create(name: str, role: str) -> None:
    """Issue a key and print it once; only its hash is kept."""
    from service.domain import apikeys
    from service.domain.normalize import InvalidInput

    container = cli_wiring.container()
    try:
        issued = apikeys.create_key(container.uow(), name, role, now=container.clock.now())
    except InvalidInput as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(issued.secret)
    click.echo(f"key {issued.info.id} {issued.info.name!r} ({issued.info.role}) created; "
               "the key above is shown only now: store it in the other system.", err=True)


@apikey.command("list")
def apikey_list() -> None:
    """List keys: id, name, role, start of the key, created, last used, revoked."""
    from service.domain import apikeys

    container = cli_wiring.container()
    for key in apikeys.list_keys(container.uow()):
        click.echo("\t".join([
            str(key.id), key.name, key.role, key.prefix + "…",
            key.created_at.isoformat(timespec="seconds"),
            key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never used",
            f"revoked {key.revoked_at.isoformat(timespec='seconds')}" if key.revoked_at
            else "active",
        ]))


@apikey.command("revoke")
@click.argument("name_or_id")
def apikey_revoke(name_or_id: str) -> None:
    """Revoke a key by name or id; it stops working at once."""
    from service.domain import apikeys
    from service.domain.normalize import InvalidInput

    container = cli_wiring.container()
    try:
        key = apikeys.revoke_key(container.uow(), name_or_id, now=container.clock.now())
    except InvalidInput as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"key {key.id} {key.name!r} revoked")


@main.group("staff")
def staff_group() -> None:
    """Staff accounts for the staff pages."""


@staff_group.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="May manage accounts, consent wording, API keys.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def staff_add(name: str, admin: bool, password_stdin: bool) -> None:
    """Create a staff account (asks the password twice unless --password-stdin)."""
    from service.domain import staff
    from service.domain.ledger import Actor
    from service.domain.models import ActorType
    from service.domain.normalize import InvalidInput

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    container = cli_wiring.container()
    try:
        info = staff.create_account(container.uow(), container.deps, name, password, admin=admin,
                                    actor=Actor(ActorType.SYSTEM, "cli"))
    except InvalidInput as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        container.close()
    role = "admin" if info.is_admin else "staff"
    click.echo(f"account {info.id} {info.name!r} ({role}) created; log in at "
               f"{container.settings.public_url}/staff/login")


@staff_group.command("list")
def staff_list() -> None:
    """List accounts: id, name, role, two-step login, state, last login."""
    from service.domain import staff

    container = cli_wiring.container()
    try:
        accounts = staff.list_accounts(container.uow())
    finally:
        container.close()
    for a in accounts:
        click.echo("\t".join([
            str(a.id), a.name, "admin" if a.is_admin else "staff",
            "totp" if a.totp_enabled else "no totp", "disabled" if a.disabled else "active",
            a.last_login_at.isoformat(timespec="seconds") if a.last_login_at else "never",
        ]))


@staff_group.command("reset-totp")
@click.argument("name")
def staff_reset_totp(name: str) -> None:
    """Remove an account's two-step login (a lost phone); it enrols again at the next login."""
    from service.domain import staff
    from service.domain.ledger import Actor
    from service.domain.models import ActorType
    from service.domain.normalize import InvalidInput

    container = cli_wiring.container()
    try:
        account_id = staff.account_id_by_name(container.uow(), name)
        staff.reset_totp(container.uow(), container.deps, account_id,
                         actor=Actor(ActorType.SYSTEM, "cli"), ip=None)
    except InvalidInput as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        container.close()
    click.echo(f"two-step login of {name!r} removed; it is set up again at the next login")


main.add_command(ledger_commands.verify)
main.add_command(ledger_commands.checkpoint)
main.add_command(webhook_commands.source)
main.add_command(webhook_commands.webhook)
main.add_command(rights_commands.import_command)
main.add_command(rights_commands.export_command)
main.add_command(rights_commands.retention_command)
main.add_command(rights_commands.proof_command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

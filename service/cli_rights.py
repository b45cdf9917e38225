"""The `consent import`, `consent export` and `consent retention` commands."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from service import cli_wiring


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--notice", type=int,
              help="The notice version that describes how these consents were collected "
                   "(asked when not given).")
@click.option("--dry-run", is_flag=True, help="Check every row and report; change nothing.")
def import_command(file: Path, notice: int | None, dry_run: bool) -> None:
    """Import an existing register from a CSV file (email, name, phone, consent date, source).

    Each imported row becomes an email consent with source "import". Rows are rejected, each
    with its reason, when the address is invalid, withdrew earlier, or was erased on request.
    """
    from service.domain import importer, notices
    from service.domain.normalize import InvalidInput

    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise click.ClickException("the file is not UTF-8 text; save it as CSV UTF-8") from None
    try:
        mapping, rows = importer.read_rows(text)
    except importer.ImportFileError as exc:
        raise click.ClickException(str(exc)) from None
    container = cli_wiring.container()
    try:
        if notice is None:
            versions = notices.list_versions(container.uow())
            for version in versions:
                click.echo(f"--- notice version {version.version} ---", err=True)
                click.echo(version.texts.get("fi") or next(iter(version.texts.values())),
                           err=True)
            notice = click.prompt("Which notice version describes how these consents were "
                                  "collected?", type=int, default=versions[0].version,
                                  err=True)
        click.echo("columns: " + ", ".join(f"{k} <- {v!r}" for k, v in mapping.items()),
                   err=True)
        with click.progressbar(length=len(rows), label="importing", file=sys.stderr) as bar:
            report = importer.import_rows(
                container.uow(), container.deps, rows, notice_version=notice,
                file_name=file.name, dry_run=dry_run, progress=bar.update,
            )
    except InvalidInput as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        container.close()
    for line in importer.iter_lines(report):
        click.echo(line)
    verb = "would import" if dry_run else "imported"
    click.echo(f"{verb} {report.imported}, skipped {len(report.skipped)}, "
               f"rejected {len(report.rejected)} of {len(rows)} row(s)"
               + (" (dry run: nothing was changed)" if dry_run else ""), err=True)


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True)
@click.option("--channel", type=click.Choice(["email", "sms"]), default="email",
              show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (default: standard output).")
def export_command(fmt: str, channel: str, output: Path | None) -> None:
    """Write the register (who may be contacted on the channel) as CSV or JSON; audited."""
    from service.domain.exporting import export_register

    container = cli_wiring.container()
    try:
        if output is None:
            count = export_register(container.uow, container.deps, channel=channel, fmt=fmt,
                                    write=sys.stdout.write)
        else:
            with output.open("w", encoding="utf-8", newline="") as handle:
                count = export_register(container.uow, container.deps, channel=channel,
                                        fmt=fmt, write=handle.write, destination=output.name)
    finally:
        container.close()
    click.echo(f"exported {count} row(s)", err=True)


@click.command("retention")
@click.option("--pending-days", type=click.IntRange(min=1), default=30, show_default=True,
              envvar="CONSENT_RETENTION_PENDING_DAYS",
              help="Remove people whose opt-in was not confirmed within this many days.")
@click.option("--ip-days", type=click.IntRange(min=1), default=365, show_default=True,
              envvar="CONSENT_RETENTION_IP_DAYS",
              help="Clear IP addresses in evidence and the audit log older than this.")
@click.option("--dry-run", is_flag=True, help="Report what would be removed; change nothing.")
def retention_command(pending_days: int, ip_days: int, dry_run: bool) -> None:
    """Apply the retention rules (run daily, e.g. from cron or a scheduled container)."""
    from service.domain.retention import apply_retention
    from service.sent_mail import forget_files

    container = cli_wiring.container()
    try:
        report = apply_retention(container.uow(), container.deps, pending_days=pending_days,
                                 ip_days=ip_days, dry_run=dry_run,
                                 forget_messages=forget_files(container.mailer))
    finally:
        container.close()
    click.echo(f"{'would remove' if dry_run else 'removed'} {report.pending_removed} "
               f"unconfirmed opt-in(s); cleared {report.evidence_ips_cleared} evidence and "
               f"{report.audit_ips_cleared} audit-log IP address(es)")


@click.command("proof")
@click.argument("address")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="The folder the HTML and PDF are written to.")
@click.option("--language", type=click.Choice(["fi", "sv", "en"]), default="fi",
              show_default=True, help="The language of the document.")
def proof_command(address: str, output: Path, language: str) -> None:
    """Write the proof pack of the person with this address (HTML and PDF), for a regulator.

    Every consent event with the wording shown, the evidence still held, each event's place in
    the hash chain and the checkpoint that covers it, and the verification of the whole ledger.
    Producing it is logged.
    """
    from service import ledger_check, proof_document
    from service.domain import ledger, proof
    from service.domain.exporting import CLI_ACTOR
    from service.domain.normalize import InvalidInput, parse_email

    container = cli_wiring.container()
    try:
        try:
            key = parse_email(address).key
        except InvalidInput as exc:
            raise click.ClickException(str(exc)) from None
        with container.uow() as uow:
            person = ledger.find_contact_by_email(uow.session, key)
            public_id = person.public_id if person is not None else None
        if public_id is None:
            raise click.ClickException("no live contact has this address")
        click.echo("checking the ledger...", err=True)
        checked = proof.Verification.of(ledger_check.verify_now(container))
        pack = proof.proof_pack(container.uow(), container.deps, public_id, CLI_ACTOR,
                                verification=checked)
    finally:
        container.close()
    html = proof_document.render_html(pack, language)
    output.mkdir(parents=True, exist_ok=True)
    page = output / f"proof-{public_id}.html"
    page.write_text(html, encoding="utf-8")
    click.echo("writing the PDF...", err=True)
    pdf = output / f"proof-{public_id}.pdf"
    pdf.write_bytes(proof_document.render_pdf(html))
    verdict = "whole" if checked.whole else f"NOT WHOLE: {checked.problem}"
    click.echo(f"{len(pack.events)} consent event(s); the ledger is {verdict}")
    click.echo(f"written: {page}\nwritten: {pdf}")

"""The `consent verify` and `consent checkpoint` commands: proof that the ledger is whole."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from service import cli_wiring, ledger_check

if TYPE_CHECKING:
    from service.domain.chain_verify import VerifyReport

# Exit statuses of `consent verify`.
DOES_NOT_FIT = 1
NOT_ALL_CHECKED = 2




_TIMES = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
          "%Y-%m-%d %H:%M:%S"]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _short(digest: str) -> str:
    return digest[:16] + "…"


class _Progress:
    """Print how far a long walk has come, at most once every two seconds."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def __call__(self, chain: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last >= 2.0:
            self.last = now
            click.echo(f"  {chain} chain: {done:,} of {total:,} links checked", err=True)


@click.command("verify")
@click.option("--checkpoint", "files", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A checkpoint kept elsewhere: the mail's attachment, the saved mail (.eml) "
                   "or a copy of the checkpoints file (repeatable).")
@click.option("--seal", is_flag=True,
              help="First chain entries that were never noted for chaining (written with the "
                   "database's triggers disabled); they are listed as problems otherwise.")
@click.option("--no-stored", is_flag=True,
              help="Leave out the database's own copies of the checkpoints.")
@click.option("--lost-between", "lost", nargs=2, type=click.DateTime(_TIMES), default=None,
              metavar="FROM UNTIL",
              help="After a restore: checkpoints made from FROM (the backup's time) until UNTIL "
                   "(the restore's), UTC, are shown but not held against the ledger: that "
                   "history was removed by the restore.")
def verify(files: tuple[Path, ...], seal: bool, no_stored: bool,
           lost: tuple[datetime, datetime] | None) -> None:
    """Check the ledger's and the audit log's hash chains, and compare them with checkpoints.

    Exit status 0: whole; 1: something does not fit (the first is named); 2: it fits as far as
    it could be checked, but a checkpoint could not be read.
    """
    from service.domain import chain
    from service.domain.chain_verify import verify as run_verify

    container = cli_wiring.container()
    try:
        if seal:
            sealed = chain.seal(container.uow(), unlinked=True)
            assert sealed is not None
            click.echo(f"sealed: {sealed.events:,} event(s) and {sealed.audit:,} audit "
                       "entr(ies) written without a link are now chained")
        found, unreadable = ledger_check.gather_checkpoints(container, files, not no_stored)
        click.echo(f"checking the ledger ({container.engine.dialect.name})...", err=True)
        window = None
        if lost:
            window = (_utc(lost[0]), _utc(lost[1]))
        report = run_verify(container.session_factory, checkpoints=found,
                            signature=container.signer.check, progress=_Progress(),
                            lost_between=window)
    finally:
        container.close()
    _print_chains(report)
    _print_checkpoints(report)
    for failure in unreadable:
        click.echo(f"not checked: {failure}")
    first = report.first_problem()
    if first is not None:
        entries = not all(part.whole for part in report.chains.values())
        click.echo(("NOT WHOLE: the first entry that does not fit: " if entries else
                    "NOT WHOLE: the chains fit their own links, but a checkpoint does not: ")
                   + first)
        click.echo("See README, \"Proof that the ledger is whole\", for what to do.")
        sys.exit(DOES_NOT_FIT)
    if unreadable:
        click.echo("the chains are whole, but not every checkpoint could be read")
        sys.exit(NOT_ALL_CHECKED)
    click.echo("the ledger and the audit log are whole")


def _print_chains(report: VerifyReport) -> None:
    """Print what was checked of each chain and what does not fit."""
    from service.domain import chain

    waiting = report.chained_first
    if waiting is not None and (waiting.events or waiting.audit):
        click.echo(f"chained first: {waiting.events:,} event(s) and {waiting.audit:,} audit "
                   "entr(ies) waiting for the worker")
    for name, label in ((chain.EVENTS, "consent events"), (chain.AUDIT, "audit log")):
        part = report.chains[name]
        click.echo(f"{label}: {part.links:,} link(s) checked, head at position "
                   f"{part.head_position:,} ({_short(part.head_hash)})")
        if name == chain.EVENTS:
            click.echo(f"  evidence: {part.evidence_checked:,} checked against its commitment, "
                       f"{part.evidence_erased:,} removed by erasure")
        click.echo(f"  IP addresses: {part.ips_checked:,} checked, {part.ips_cleared:,} "
                   "cleared by retention")
        if part.unchained_count:
            click.echo(f"  {part.unchained_count:,} entr(ies) not in the chain, e.g. id(s) "
                       + ", ".join(map(str, part.unchained[:5]))
                       + " (written around it; `consent verify --seal` chains them once you "
                       "know why)")
        if part.pending:
            click.echo(f"  {part.pending:,} entr(ies) committed during the check wait for the "
                       "worker to chain them")
        for problem in part.problems[:20]:
            click.echo(f"  does not fit: {problem}")
        if part.problem_count > 20:
            click.echo(f"  ... {part.problem_count - 20:,} more problem(s)")


def _print_checkpoints(report: VerifyReport) -> None:
    """Print each checkpoint's verdict and where the chains stopped matching them."""
    from service.domain import chain
    from service.domain.chain_verify import changed_between

    if report.checkpoints:
        click.echo(f"checkpoints checked: {len(report.checkpoints)}")
    else:
        click.echo("checkpoints checked: none (run `consent checkpoint`; without one, a history "
                   "rewritten from the start cannot be told from the real one)")
    for result in report.checkpoints:
        cp = result.checkpoint
        verdict = "fits" if result.fits else "DOES NOT FIT"
        if result.lost and not result.fits:
            verdict = "does not fit: its history was lost with the restore"
        click.echo(f"  {cp.made_at:%Y-%m-%d %H:%M:%S} UTC  events {cp.events_position:,}, audit "
                   f"{cp.audit_position:,}  signature {result.signature}  {verdict}  "
                   f"[{result.source}]")
        for mismatch in result.mismatches:
            click.echo(f"    {mismatch}")
    for name in (chain.EVENTS, chain.AUDIT):
        span = changed_between(report.checkpoints, name)
        if span is not None:
            click.echo(f"the {name} chain stopped matching its checkpoints between positions "
                       f"{span[0]:,} and {span[1]:,} (after the last checkpoint that fits, at or "
                       "before the first that does not)")


@click.command("checkpoint")
@click.option("--public-key", is_flag=True,
              help="Print the public key checkpoints are signed with (PEM), then exit.")
def checkpoint(public_key: bool) -> None:
    """Sign the chains' heads now and write them to the Sheet (or the local file) and the mail."""
    from service.domain.outbox_worker import RetryLater

    container = cli_wiring.container()
    try:
        if public_key:
            click.echo(container.signer.public_key_pem(), nl=False)
            click.echo(f"key id {container.signer.key_id}", err=True)
            return
        made = container.make_checkpoint()
        cp = made.checkpoint
        click.echo(f"checkpoint made: events at {cp.events_position:,} "
                   f"({_short(cp.events_hash)}), audit log at {cp.audit_position:,} "
                   f"({_short(cp.audit_hash)}), signed with key {cp.key_id}")
        try:
            container.publish_checkpoint(made.id)
        except RetryLater as exc:
            click.echo(f"not yet written to {container.checkpoint_log.where}: {exc}; the worker "
                       "tries again", err=True)
            sys.exit(1)
        click.echo(f"written to {container.checkpoint_log.where}")
        if made.mailed_to:
            click.echo(f"mail to {made.mailed_to} queued (the worker sends it)")
    finally:
        container.close()

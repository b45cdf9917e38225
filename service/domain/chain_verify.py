"""Checking the hash chains: every link, every commitment, the heads, and the checkpoints.

`verify` walks each chain from its first link to the head it read at the start, recomputing
every link from the entry as the database holds it now, and checks evidence still present
against its commitment. Problems are named by chain, position and entry id. Checkpoints
(signed heads kept outside the database) are compared with the links at their positions:
a chain rewritten consistently from the start passes the walk and fails there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, sessionmaker

from service.domain import chain
from service.domain.chain import AUDIT, EVENTS, GENESIS, Checkpoint
from service.domain.models import (
    AuditEntry,
    ChainHead,
    ChainLink,
    ChainPending,
    ConsentEvent,
    Contact,
    Evidence,
)
from service.domain.uow import UnitOfWork

BATCH = 2000
KEEP_PROBLEMS = 200  # per chain; the count goes on

Progress = Callable[[str, int, int], None]  # chain, links checked, links to check
SignatureCheck = Callable[[Checkpoint], str]  # "valid", "invalid" or "unknown key"


@dataclass(frozen=True)
class Problem:
    """One entry (or place in a chain) that does not fit."""

    chain: str
    position: int | None
    entry_id: int | None
    what: str

    def __str__(self) -> str:
        """Name the place and say what is wrong."""
        noun = "event" if self.chain == EVENTS else "audit entry"
        place = f"{self.chain} chain"
        if self.position is not None:
            place += f", position {self.position}"
        if self.entry_id is not None:
            place += f" ({noun} {self.entry_id})"
        return f"{place}: {self.what}"


@dataclass
class ChainReport:
    """What the walk of one chain found."""

    chain: str
    head_position: int = 0
    head_hash: str = GENESIS
    links: int = 0
    evidence_checked: int = 0
    evidence_erased: int = 0
    ips_checked: int = 0
    ips_cleared: int = 0
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    unchained: list[int] = field(default_factory=list)
    unchained_count: int = 0
    pending: int = 0  # committed, waiting for the sealer (not a problem)

    def add(self, problem: Problem) -> None:
        """Keep a problem (the first KEEP_PROBLEMS of them; all are counted)."""
        self.problem_count += 1
        if len(self.problems) < KEEP_PROBLEMS:
            self.problems.append(problem)

    @property
    def whole(self) -> bool:
        """Tell whether every link, commitment and entry fits."""
        return self.problem_count == 0 and self.unchained_count == 0


@dataclass(frozen=True)
class CheckpointSource:
    """A checkpoint and where it was read from (a file, the Sheet tab, the database's copy)."""

    source: str
    checkpoint: Checkpoint


@dataclass
class CheckpointResult:
    """How one checkpoint compared with the ledger."""

    source: str
    checkpoint: Checkpoint
    signature: str
    mismatches: list[str] = field(default_factory=list)
    # Made in a stretch of history a restore removed (the operator said when): its mismatches
    # are shown, not held against the ledger.
    lost: bool = False

    @property
    def fits(self) -> bool:
        """Tell whether the signature holds (or its key is unknown) and both heads match."""
        return self.signature != "invalid" and not self.mismatches

    @property
    def counts(self) -> bool:
        """Tell whether this checkpoint decides whether the ledger is whole."""
        return not self.lost


@dataclass
class VerifyReport:
    """Everything `consent verify` checked."""

    chains: dict[str, ChainReport]
    checkpoints: list[CheckpointResult] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # checkpoint sources that failed
    chained_first: chain.SealReport | None = None  # entries that waited for the worker

    @property
    def whole(self) -> bool:
        """Tell whether both chains are whole and every checkpoint fits."""
        return (all(report.whole for report in self.chains.values())
                and all(result.fits for result in self.checkpoints if result.counts))

    def first_problem(self) -> str | None:
        """Return the first thing that does not fit, in words, or None."""
        for name in (EVENTS, AUDIT):
            report = self.chains[name]
            if report.problems:
                return str(report.problems[0])
            if report.unchained:
                return (f"{name} chain: entry {report.unchained[0]} is not in the chain "
                        "(written around it)")
        for result in self.checkpoints:
            if result.counts and not result.fits:
                return f"checkpoint of {chain.iso(result.checkpoint.made_at)} " \
                       f"({result.source}): " + "; ".join(
                           result.mismatches or [f"signature {result.signature}"])
        return None


def _heads(session: Session) -> dict[str, tuple[int, str] | None]:
    found: dict[str, tuple[int, str] | None] = {EVENTS: None, AUDIT: None}
    for row in session.execute(select(ChainHead.chain, ChainHead.position, ChainHead.hash)):
        found[str(row.chain)] = (int(row.position), str(row.hash))
    return found


def _last_link(session: Session, name: str) -> tuple[int, str] | None:
    row = session.execute(select(ChainLink.position, ChainLink.hash)
                          .where(ChainLink.chain == name)
                          .order_by(ChainLink.position.desc()).limit(1)).first()
    return (int(row.position), str(row.hash)) if row else None


def _event_batch(session: Session, after: int, upto: int) -> list[Mapping[str, Any]]:
    evidence = [getattr(Evidence, name).label(f"ev_{name}") for name in chain.EVIDENCE_COLUMNS]
    query = (
        select(ChainLink.position, ChainLink.entry_id, ChainLink.hash.label("link_hash"),
               ChainLink.evidence_commitment, ChainLink.ip_commitment,
               ConsentEvent.id, *[getattr(ConsentEvent, name) for name in chain.EVENT_COLUMNS
                                  if name != "id"],
               Contact.public_id.label("contact_public_id"),
               Contact.erased_at.label("contact_erased_at"),
               Evidence.id.label("ev_id"), *evidence)
        .select_from(ChainLink)
        .outerjoin(ConsentEvent, ConsentEvent.id == ChainLink.entry_id)
        .outerjoin(Contact, Contact.id == ConsentEvent.contact_id)
        .outerjoin(Evidence, Evidence.event_id == ChainLink.entry_id)
        .where(ChainLink.chain == EVENTS, ChainLink.position > after,
               ChainLink.position <= upto)
        .order_by(ChainLink.position).limit(BATCH)
    )
    return [cast(Mapping[str, Any], row._mapping) for row in session.execute(query)]


def _audit_batch(session: Session, after: int, upto: int) -> list[Mapping[str, Any]]:
    query = (
        select(ChainLink.position, ChainLink.entry_id, ChainLink.hash.label("link_hash"),
               ChainLink.evidence_commitment, ChainLink.ip_commitment,
               *[getattr(AuditEntry, name) for name in chain.AUDIT_COLUMNS])
        .select_from(ChainLink)
        .outerjoin(AuditEntry, AuditEntry.id == ChainLink.entry_id)
        .where(ChainLink.chain == AUDIT, ChainLink.position > after, ChainLink.position <= upto)
        .order_by(ChainLink.position).limit(BATCH)
    )
    return [cast(Mapping[str, Any], row._mapping) for row in session.execute(query)]


def _event_content(row: Mapping[str, Any], key: bytes | None, report: ChainReport
                   ) -> dict[str, Any] | None:
    """Check an event's evidence against its commitments; return its content, None if gone."""
    position, entry_id = int(row["position"]), int(row["entry_id"])
    if row["id"] is None:
        report.add(Problem(EVENTS, position, entry_id, "the event is missing from the ledger "
                           "(deleted, or its id changed)"))
        return None
    committed, committed_ips = row["evidence_commitment"], row["ip_commitment"]
    found = chain.evidence_of(row)
    if found is None:
        if committed is not None:
            if row["contact_erased_at"] is None:
                report.add(Problem(EVENTS, position, entry_id,
                                   "its evidence was deleted, but its contact was not erased"))
            else:
                report.evidence_erased += 1
    elif committed is None:
        report.add(Problem(EVENTS, position, entry_id, "evidence was added to it after it "
                           "was recorded (it was chained without evidence)"))
    elif key is None:
        report.add(Problem(EVENTS, position, entry_id,
                           "the commitment key is missing, so its evidence cannot be checked"))
    else:
        report.evidence_checked += 1
        if chain.evidence_commitment(key, entry_id, found) != committed:
            report.add(Problem(EVENTS, position, entry_id,
                               "its evidence was altered (it does not match its commitment)"))
        ips = chain.ip_commitment(key, "event", entry_id, found["ip"], found["source_ip"])
        if ips is None and committed_ips is not None:
            report.ips_cleared += 1  # retention clears both addresses of old evidence
        elif ips is not None:
            report.ips_checked += 1
            if ips != committed_ips:
                report.add(Problem(EVENTS, position, entry_id, "the IP address in its "
                                   "evidence was altered (it does not match its commitment)"))
    return chain.event_content(row, row["contact_public_id"], committed, committed_ips)


def _audit_content(row: Mapping[str, Any], key: bytes | None, report: ChainReport
                   ) -> dict[str, Any] | None:
    """Check an audit entry's IP against its commitment; return its content, None if gone."""
    position, entry_id = int(row["position"]), int(row["entry_id"])
    if row["id"] is None:
        report.add(Problem(AUDIT, position, entry_id, "the entry is missing from the audit "
                           "log (deleted, or its id changed)"))
        return None
    committed = row["ip_commitment"]
    if row["ip"] is None:
        if committed is not None:
            report.ips_cleared += 1  # retention clears old addresses
    elif key is None:
        report.add(Problem(AUDIT, position, entry_id,
                           "the commitment key is missing, so its IP address cannot be checked"))
    else:
        report.ips_checked += 1
        if chain.ip_commitment(key, "audit", entry_id, row["ip"]) != committed:
            report.add(Problem(AUDIT, position, entry_id,
                               "its IP address was altered (it does not match its commitment)"))
    return chain.audit_content(row, committed)


def _walk(session_factory: Callable[[], Session], name: str, head: tuple[int, str] | None,
          key: bytes | None, wanted: set[int], seen: dict[int, str],
          progress: Progress | None) -> ChainReport:
    """Walk one chain up to its head, in batches (each its own short read)."""
    report = ChainReport(name)
    if head is None:
        with session_factory() as session:
            last = _last_link(session, name)
        if last is not None:
            report.add(Problem(name, None, None, "its head row is missing from chain_heads"))
        head = last or (0, GENESIS)
    report.head_position, report.head_hash = head
    previous, expected = GENESIS, 1
    fetch = _event_batch if name == EVENTS else _audit_batch
    content_of = _event_content if name == EVENTS else _audit_content
    after = 0
    while after < head[0]:
        with session_factory() as session:
            rows = fetch(session, after, head[0])
        if not rows:
            break
        for row in rows:
            position = int(row["position"])
            stored = str(row["link_hash"])
            if position != expected:
                report.add(Problem(name, expected, None,
                                   f"positions {expected} to {position - 1} are missing from "
                                   "the chain (links deleted)"))
            content = content_of(row, key, report)
            if (content is not None and position == expected
                    and chain.link_hash(previous, name, position, content) != stored):
                report.add(Problem(name, position, int(row["entry_id"]),
                                   "it does not match its hash: the entry was changed, "
                                   "or entries were reordered"))
            if position in wanted:
                seen[position] = stored
            previous, expected = stored, position + 1
            report.links += 1
        after = int(rows[-1]["position"])
        if progress is not None:
            progress(name, report.links, head[0])
    if expected - 1 < head[0]:
        report.add(Problem(name, expected, None,
                           f"the chain ends at position {expected - 1}, its head says "
                           f"{head[0]} (links deleted)"))
    elif previous != head[1] and head[0] > 0:
        report.add(Problem(name, head[0], None, "the head row's hash is not the last link's"))
    with session_factory() as session:
        _unchained(session, name, report)
    return report


def _unchained(session: Session, name: str, report: ChainReport) -> None:
    """Find entries neither linked nor waiting for the sealer, and entries linked twice."""
    table = ConsentEvent if name == EVENTS else AuditEntry
    linked = and_(ChainLink.chain == name, ChainLink.entry_id == table.id)
    waiting = and_(ChainPending.chain == name, ChainPending.entry_id == table.id)
    missing = ~select(ChainLink.entry_id).where(linked).exists() & ~select(
        ChainPending.entry_id).where(waiting).exists()
    report.pending = chain.pending_count(session, name)
    report.unchained_count = int(session.scalar(
        select(func.count()).select_from(table).where(missing)) or 0)
    if report.unchained_count:
        report.unchained = [int(i) for i in session.scalars(
            select(table.id).where(missing).order_by(table.id).limit(20))]
    for entry_id in session.scalars(
            select(ChainLink.entry_id).where(ChainLink.chain == name)
            .group_by(ChainLink.entry_id).having(func.count() > 1).limit(20)):
        report.add(Problem(name, None, int(entry_id), "it is linked more than once"))


def _compare(result: CheckpointResult, reports: Mapping[str, ChainReport],
             seen: Mapping[str, Mapping[int, str]]) -> None:
    for name in (EVENTS, AUDIT):
        position, digest = result.checkpoint.head(name)
        report = reports[name]
        if position == 0:
            if digest != GENESIS:
                result.mismatches.append(f"{name}: position 0 with a hash other than the start")
            continue
        if position > report.head_position:
            result.mismatches.append(
                f"{name}: it saw position {position}, the ledger now ends at "
                f"{report.head_position} (entries removed from the end, or an older backup "
                "restored)")
            continue
        stored = seen[name].get(position)
        if stored is None:
            result.mismatches.append(f"{name}: position {position} is missing from the chain")
        elif stored != digest:
            result.mismatches.append(
                f"{name}: at position {position} the ledger's hash is {stored[:16]}…, the "
                f"checkpoint's {digest[:16]}…: history up to there was rewritten (or an older "
                "backup restored)")


def verify(session_factory: sessionmaker[Session], *,
           checkpoints: Sequence[CheckpointSource] = (),
           signature: SignatureCheck | None = None,
           progress: Progress | None = None,
           lost_between: tuple[datetime, datetime] | None = None,
           seal_first: bool = True) -> VerifyReport:
    """Chain what waits for the worker, walk both chains, compare them with the checkpoints.

    lost_between: checkpoints made in this stretch (from a restored backup's time to the
    restore) are still compared and shown, but do not make the ledger "not whole".
    """
    sealed = chain.seal(UnitOfWork(session_factory)) if seal_first else None
    with session_factory() as session:
        heads = _heads(session)
        key = chain.read_commitment_key(session)
    wanted: dict[str, set[int]] = {EVENTS: set(), AUDIT: set()}
    for found in checkpoints:
        for name in (EVENTS, AUDIT):
            wanted[name].add(found.checkpoint.head(name)[0])
    seen: dict[str, dict[int, str]] = {EVENTS: {}, AUDIT: {}}
    reports = {name: _walk(session_factory, name, heads[name], key, wanted[name], seen[name],
                           progress) for name in (EVENTS, AUDIT)}
    report = VerifyReport(reports, chained_first=sealed)
    for found in sorted(checkpoints, key=lambda c: c.checkpoint.made_at):
        made = found.checkpoint.made_at
        result = CheckpointResult(
            found.source, found.checkpoint,
            signature(found.checkpoint) if signature else "unchecked",
            lost=lost_between is not None and lost_between[0] <= made <= lost_between[1])
        _compare(result, reports, seen)
        report.checkpoints.append(result)
    return report


def changed_between(results: Iterable[CheckpointResult], name: str) -> tuple[int, int] | None:
    """Return the positions between which a rewrite happened, from the checkpoints around it.

    The last checkpoint that fits and the first that does not bound the change: it lies after
    the first's position and at or before the second's. None when no checkpoint disagrees.
    """
    results = [r for r in results if r.signature != "invalid" and r.counts]
    failing = [r.checkpoint.head(name)[0] for r in results
               if any(m.startswith(f"{name}:") for m in r.mismatches)]
    fitting = [r.checkpoint.head(name)[0] for r in results
               if not any(m.startswith(f"{name}:") for m in r.mismatches)]
    if not failing:
        return None
    upper = min(failing)
    lower = max([p for p in fitting if p < upper], default=0)
    return lower + 1, upper

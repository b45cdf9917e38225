"""One mirror pass: make the mirror show the register, incrementally when it can."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.domain.dependencies import Deps
from service.domain.mirror.queue import FULL_MIRROR_WANTED
from service.domain.mirror.rows import RegisterRows, RowFormatter, header, on_register
from service.domain.mirror.status import record_status
from service.domain.models import MirrorDirty, ServiceState
from service.domain.outbox_worker import RetryLater
from service.domain.ports import (
    IncrementalMirror,
    MirrorMisconfigured,
    MirrorNeedsFullPass,
    MirrorReport,
    MirrorUnavailable,
    RegisterMirror,
    RowChange,
)
from service.domain.register import RegisterEntry, read_batch
from service.domain.uow import UnitOfWork

log = logging.getLogger("consent.mirror")

# A misconfigured Sheet needs a person; retrying every second would only fill the log.
MISCONFIGURED_RETRY = timedelta(minutes=5)
UNAVAILABLE_RETRY_CAP = timedelta(minutes=1)

MirrorLock = Callable[[], AbstractContextManager[bool]]
# Above this many changed contacts one full pass is cheaper than editing rows one by one.
MAX_INCREMENTAL_CONTACTS = 5000
ID_CHUNK = 500


@dataclass
class MirrorMemory:
    """What this process's last successful pass left in the mirror."""

    links: dict[str, str] = field(default_factory=dict)
    # The key of every row shown, with the contact id that orders it; None: not known, so the
    # next pass must be a full one (a process's first pass, or after a failed pass).
    shown: dict[str, int] | None = None


def _changes_seen(session: Session) -> list[tuple[int, int]]:
    """Return the change notes (note id, contact id) committed so far."""
    rows = session.execute(select(MirrorDirty.id, MirrorDirty.contact_id)).all()
    return [(int(note), int(contact)) for note, contact in rows]


def _forget(new_uow: Callable[[], UnitOfWork], notes: Sequence[int],
            full_request: str | None) -> None:
    """Delete exactly the change notes a successful pass read (and the request it served)."""
    with new_uow() as uow:
        for start in range(0, len(notes), ID_CHUNK):
            uow.session.execute(
                delete(MirrorDirty).where(MirrorDirty.id.in_(notes[start:start + ID_CHUNK])))
        if full_request is not None:
            # Only the request this pass saw: one made meanwhile asks for another full pass.
            uow.session.execute(delete(ServiceState).where(
                ServiceState.name == FULL_MIRROR_WANTED, ServiceState.value == full_request))
        uow.commit()


def _full_pass(
    new_uow: Callable[[], UnitOfWork], deps: Deps, mirror: RegisterMirror,
    memory: MirrorMemory, *, check_only: bool,
) -> tuple[MirrorReport, int]:
    """Read the whole register, make the mirror show it, return the report and row count."""
    # The notes are read before the register: a change committed after this read leaves a
    # note the next pass finds, so none is lost.
    with new_uow() as uow:
        notes = [note for note, _ in _changes_seen(uow.session)]
        request = uow.session.get(ServiceState, FULL_MIRROR_WANTED)
        full_request = request.value if request is not None else None
    rows = RegisterRows(new_uow, deps, memory.links)
    report = mirror.apply(header(deps.practice.default_language), rows, check_only=check_only)
    # Only the links of this pass's rows: the cache never grows past the register.
    memory.links = rows.links()
    if not check_only:
        _forget(new_uow, notes, full_request)
        # None (not known) unless the mirror read the rows through.
        memory.shown = rows.shown
    return report, len(rows.shown or {})


def _incremental_pass(
    new_uow: Callable[[], UnitOfWork], deps: Deps, mirror: IncrementalMirror,
    memory: MirrorMemory, shown: dict[str, int],
) -> MirrorReport | None:
    """Write only the rows of contacts changed since the last pass; None: a full pass must run."""
    with new_uow() as uow:
        if uow.session.get(ServiceState, FULL_MIRROR_WANTED) is not None:
            return None
        seen = _changes_seen(uow.session)
    contact_ids = sorted({contact for _, contact in seen})
    if len(contact_ids) > MAX_INCREMENTAL_CONTACTS:
        return None
    entries: list[RegisterEntry] = []
    with new_uow() as uow:
        for start in range(0, len(contact_ids), ID_CHUNK):
            chunk = contact_ids[start:start + ID_CHUNK]
            entries += read_batch(uow.session, limit=len(chunk), only=chunk)
    formatter = RowFormatter(deps, memory.links)
    changes = [RowChange(entry.public_id, entry.id, formatter.row(entry))
               for entry in entries if on_register(entry)]
    staying = {change.order for change in changes}
    leaving = set(contact_ids) - staying
    if leaving:
        changes += [RowChange(key, contact, None) for key, contact in shown.items()
                    if contact in leaving]
    report = MirrorReport()
    if changes:
        try:
            report = mirror.apply_changes(header(deps.practice.default_language), changes, shown)
        except MirrorNeedsFullPass as exc:
            log.info("register mirror: a full pass instead of an incremental one (%s)", exc)
            return None
    for change in changes:
        if change.row is None:
            shown.pop(change.key, None)
            memory.links.pop(change.key, None)
        else:
            shown[change.key] = change.order
    memory.links.update(formatter.links)
    _forget(new_uow, [note for note, _ in seen], None)
    return report


def unavailable_retry(attempt: int, draw: Callable[[], float] = random.random) -> timedelta:
    """Return the wait before the next pass while Google is out of reach or over quota.

    Short and capped: a queued pass also carries every change made meanwhile (they coalesce
    into it), so a long wait here would keep the tab stale long after Google answers again.
    """
    base = min(UNAVAILABLE_RETRY_CAP.total_seconds(), 5.0 * 2.0 ** max(attempt - 1, 0))
    return timedelta(seconds=base * (0.5 + 0.5 * draw()))


def run_pass(
    new_uow: Callable[[], UnitOfWork],
    deps: Deps,
    mirror: RegisterMirror,
    lock: MirrorLock,
    *,
    check_only: bool = False,
    attempt: int = 1,
    memory: MirrorMemory | None = None,
    incremental: bool = False,
) -> MirrorReport:
    """Make the mirror show the register (or only compare); one writer at a time.

    With incremental, only the rows of contacts changed since this process's last pass are
    written when the mirror can do that and is as that pass left it; otherwise (and always for
    a process's first pass, a requested periodic pass, or check_only) the whole register is.
    A failure is logged when it starts or changes, not at every retry, and is kept in the
    status that /readyz shows until a pass succeeds.
    """
    memory = memory if memory is not None else MirrorMemory()
    with lock() as held:
        if not held:
            raise RetryLater("another mirror writer is running", timedelta(seconds=2))
        started = deps.clock.now()
        shown = memory.shown
        try:
            report: MirrorReport | None = None
            if (incremental and not check_only and shown is not None
                    and isinstance(mirror, IncrementalMirror)):
                # Until it succeeds, what the mirror shows is not known for sure.
                memory.shown = None
                report = _incremental_pass(new_uow, deps, mirror, memory, shown)
                if report is not None:
                    memory.shown = shown
                    rows = len(shown)
            if report is None:
                memory.shown = None
                report, rows = _full_pass(new_uow, deps, mirror, memory, check_only=check_only)
                full = True
            else:
                full = False
        except MirrorMisconfigured as exc:
            message = f"register mirror needs attention: {exc}"
            before = record_status(new_uow, started, last_error=message,
                                    last_error_at=started.isoformat(), needs_attention=True)
            if before.get("last_error") != message:
                log.error("%s", message)
            raise RetryLater(message, MISCONFIGURED_RETRY, already_logged=True) from None
        except MirrorUnavailable as exc:
            message = f"register mirror unavailable, will retry: {exc}"
            before = record_status(new_uow, started, last_error=message,
                                    last_error_at=started.isoformat(), needs_attention=False)
            if before.get("last_error") != message:
                log.warning("%s", message)
            raise RetryLater(message, unavailable_retry(attempt), already_logged=True) from None
    if not check_only:
        before = record_status(
            new_uow, deps.clock.now(), last_success=deps.clock.now().isoformat(),
            last_error=None, needs_attention=False, rows=rows,
            last_report={"added": report.added, "changed": report.changed,
                         "removed": report.removed, "requests": report.requests,
                         "full": full},
        )
        if before.get("last_error"):
            log.info("register mirror is working again")
    return report

"""The register mirror pass: what the Sheet shows, and one pass that makes it so."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.domain import letters
from service.domain.context import Deps
from service.domain.health import MIRROR_STATE
from service.domain.models import MirrorDirty, ServiceState
from service.domain.ports import (
    IncrementalMirror,
    MirrorMisconfigured,
    MirrorNeedsFullPass,
    MirrorReport,
    MirrorUnavailable,
    RegisterMirror,
    RowChange,
)
from service.domain.register import ChannelState, RegisterEntry, iter_register, read_batch
from service.domain.uow import UnitOfWork
from service.domain.work import RetryLater

log = logging.getLogger("consent.mirror")

# Fixed header names per default language: tools that read the tab rely on them never changing.
HEADERS: dict[str, tuple[str, ...]] = {
    "fi": ("Tunniste", "Sähköposti", "Nimi", "Puhelin", "Kieli", "Sähköpostilupa",
           "Sähköpostilupa alkaen", "Tekstiviestilupa", "Tekstiviestilupa alkaen", "Lähde",
           "Kirjaaja", "Peruutuslinkki"),
    "sv": ("Id", "E-post", "Namn", "Telefon", "Språk", "E-posttillstånd",
           "E-posttillstånd sedan", "Sms-tillstånd", "Sms-tillstånd sedan", "Källa",
           "Registrerad av", "Avregistreringslänk"),
    "en": ("Contact key", "Email", "Name", "Phone", "Language", "Email consent",
           "Email consent since", "SMS consent", "SMS consent since", "Source",
           "Recorded by", "Unsubscribe link"),
}
YES_NO = {"fi": ("kyllä", "ei"), "sv": ("ja", "nej"), "en": ("yes", "no")}
# A misconfigured Sheet needs a person; retrying every second would only fill the log.
MISCONFIGURED_RETRY = timedelta(minutes=5)
UNAVAILABLE_RETRY_CAP = timedelta(minutes=1)

MirrorLock = Callable[[], AbstractContextManager[bool]]
# Set by the periodic scheduler; the next pass is a full one (it repairs hand edits).
FULL_MIRROR_WANTED = "mirror.full_pass_requested"
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


def header(language: str) -> tuple[str, ...]:
    """Return the tab's header row."""
    return HEADERS.get(language, HEADERS["fi"])


class RowFormatter:
    """Turn register entries into the tab's rows (all values text)."""

    def __init__(self, deps: Deps, known_links: Mapping[str, str] | None = None) -> None:
        """Remember the language, the time zone, how links are made and links made before."""
        self._deps = deps
        self._language = deps.practice.default_language
        self._zone = ZoneInfo(deps.practice.timezone)
        # Signing a link is most of the cost of a row; a contact's link never changes while
        # the process runs (the keys are read at start), so the last pass's links are reused.
        self._known_links = known_links or {}
        self.links: dict[str, str] = {}

    def _when(self, value: datetime | None) -> str:
        return value.astimezone(self._zone).strftime("%Y-%m-%d %H:%M") if value else ""

    def _consent(self, state: ChannelState, allowed: bool) -> tuple[str, str]:
        yes, no = YES_NO.get(self._language, YES_NO["fi"])
        return (yes, self._when(state.since)) if allowed else (no, "")

    def row(self, entry: RegisterEntry) -> list[str]:
        """Return the row of one contact on the register."""
        email_ok = entry.may_contact("email")
        sms_ok = entry.may_contact("sms")
        email_yes, email_since = self._consent(entry.email_consent, email_ok)
        sms_yes, sms_since = self._consent(entry.sms_consent, sms_ok)
        source_state = entry.email_consent if email_ok else entry.sms_consent
        link = ""
        if email_ok:
            link = self._known_links.get(entry.public_id) or letters.unsubscribe_link(
                self._deps, entry.public_id)
            self.links[entry.public_id] = link
        return [
            entry.public_id,
            entry.email or "",
            entry.name or "",
            entry.phone or "",
            entry.language,
            email_yes,
            email_since,
            sms_yes,
            sms_since,
            source_state.method or "",
            source_state.witness or "",
            link,
        ]


def _on_register(entry: RegisterEntry) -> bool:
    return entry.may_contact("email") or entry.may_contact("sms")


def register_rows(
    new_uow: Callable[[], UnitOfWork], deps: Deps, links: MutableMapping[str, str] | None = None,
    shown: MutableMapping[str, int] | None = None,
) -> list[list[str]]:
    """Return the rows of everyone on the register, in contact order.

    links, when given, holds the unsubscribe links of the last pass and is left holding this
    pass's (only those on the register now, so it never grows past the register). shown, when
    given, is filled with each row's key and contact id.
    """
    formatter = RowFormatter(deps, links)
    rows: list[list[str]] = []
    for batch in iter_register(new_uow, batch=2000):
        for entry in batch:
            if _on_register(entry):
                rows.append(formatter.row(entry))
                if shown is not None:
                    shown[entry.public_id] = entry.id
    if links is not None:
        links.clear()
        links.update(formatter.links)
    return rows


def request_full_pass(session: Session, *, now: datetime) -> None:
    """Ask for the next mirror pass to be a full one (in the caller's transaction)."""
    row = session.get(ServiceState, FULL_MIRROR_WANTED)
    if row is None:
        session.add(ServiceState(name=FULL_MIRROR_WANTED, value=now.isoformat(), updated_at=now))
    else:
        row.value = now.isoformat()
        row.updated_at = now


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
    shown: dict[str, int] = {}
    rows = register_rows(new_uow, deps, memory.links, shown)
    report = mirror.apply(header(deps.practice.default_language), rows, check_only=check_only)
    if not check_only:
        _forget(new_uow, notes, full_request)
        memory.shown = shown
    return report, len(rows)


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
               for entry in entries if _on_register(entry)]
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


def _record_status(new_uow: Callable[[], UnitOfWork], now: datetime,
                   **changes: Any) -> dict[str, Any]:
    """Update the mirror's status row; return what it said before."""
    with new_uow() as uow:
        row = uow.session.get(ServiceState, MIRROR_STATE, with_for_update=True)
        status: dict[str, Any] = json.loads(row.value) if row else {}
        before = dict(status)
        status.update(changes)
        if row is None:
            uow.session.add(ServiceState(name=MIRROR_STATE, value=json.dumps(status),
                                         updated_at=now))
        else:
            row.value = json.dumps(status)
            row.updated_at = now
        uow.commit()
    return before


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
            before = _record_status(new_uow, started, last_error=message,
                                    last_error_at=started.isoformat(), needs_attention=True)
            if before.get("last_error") != message:
                log.error("%s", message)
            raise RetryLater(message, MISCONFIGURED_RETRY, already_logged=True) from None
        except MirrorUnavailable as exc:
            message = f"register mirror unavailable, will retry: {exc}"
            before = _record_status(new_uow, started, last_error=message,
                                    last_error_at=started.isoformat(), needs_attention=False)
            if before.get("last_error") != message:
                log.warning("%s", message)
            raise RetryLater(message, unavailable_retry(attempt), already_logged=True) from None
    if not check_only:
        before = _record_status(
            new_uow, deps.clock.now(), last_success=deps.clock.now().isoformat(),
            last_error=None, needs_attention=False, rows=rows,
            last_report={"added": report.added, "changed": report.changed,
                         "removed": report.removed, "requests": report.requests,
                         "full": full},
        )
        if before.get("last_error"):
            log.info("register mirror is working again")
    return report

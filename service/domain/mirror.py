"""The register mirror pass: what the Sheet shows, and one pass that makes it so."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Mapping, MutableMapping
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from service.domain import letters
from service.domain.context import Deps
from service.domain.health import MIRROR_STATE
from service.domain.models import ServiceState
from service.domain.ports import (
    MirrorMisconfigured,
    MirrorReport,
    MirrorUnavailable,
    RegisterMirror,
)
from service.domain.register import ChannelState, RegisterEntry, iter_register
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


def register_rows(
    new_uow: Callable[[], UnitOfWork], deps: Deps, links: MutableMapping[str, str] | None = None
) -> list[list[str]]:
    """Return the rows of everyone on the register, in contact order.

    links, when given, holds the unsubscribe links of the last pass and is left holding this
    pass's (only those on the register now, so it never grows past the register).
    """
    formatter = RowFormatter(deps, links)
    rows: list[list[str]] = []
    for batch in iter_register(new_uow, batch=2000):
        rows.extend(formatter.row(entry) for entry in batch if
                    entry.may_contact("email") or entry.may_contact("sms"))
    if links is not None:
        links.clear()
        links.update(formatter.links)
    return rows


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
    links: MutableMapping[str, str] | None = None,
) -> MirrorReport:
    """Make the mirror show the register (or only compare); one writer at a time.

    A failure is logged when it starts or changes, not at every retry, and is kept in the
    status that /readyz shows until a pass succeeds.
    """
    with lock() as held:
        if not held:
            raise RetryLater("another mirror writer is running", timedelta(seconds=2))
        rows = register_rows(new_uow, deps, links)
        started = deps.clock.now()
        try:
            report = mirror.apply(header(deps.practice.default_language), rows,
                                  check_only=check_only)
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
            last_error=None, needs_attention=False, rows=len(rows),
            last_report={"added": report.added, "changed": report.changed,
                         "removed": report.removed, "requests": report.requests},
        )
        if before.get("last_error"):
            log.info("register mirror is working again")
    return report

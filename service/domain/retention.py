"""Retention: remove opt-ins never confirmed, and clear old IP addresses from evidence and logs."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm import Session

from service.domain import audit, domain_events, ledger
from service.domain.dependencies import Deps
from service.domain.ledger import Actor
from service.domain.models import (
    ActorType,
    AuditEntry,
    Contact,
    ContactCorrection,
    Evidence,
    OutboxItem,
    ServiceState,
    Subscription,
    SubscriptionState,
)
from service.domain.uow import UnitOfWork

RETENTION_ACTOR = Actor(ActorType.SYSTEM, "retention")
DEFAULT_PENDING_DAYS = 30
DEFAULT_IP_DAYS = 365
LAST_RUN_STATE = "retention_last_day"


@dataclass(frozen=True)
class RetentionReport:
    """What one retention run removed or cleared."""

    pending_removed: int
    evidence_ips_cleared: int
    audit_ips_cleared: int


def apply_retention(
    uow: UnitOfWork, deps: Deps, *, pending_days: int = DEFAULT_PENDING_DAYS,
    ip_days: int = DEFAULT_IP_DAYS, dry_run: bool = False,
    forget_messages: Callable[[Sequence[str]], None] | None = None,
) -> RetentionReport:
    """Remove people whose opt-in was never confirmed within pending_days; clear IPs older
    than ip_days. The ledger keeps its events (no personal data); the people become tombstones.
    """
    _check_periods(pending_days, ip_days)
    now = deps.clock.now()
    with uow:
        report, message_ids = _apply(uow.session, now, pending_days, ip_days, dry_run=dry_run)
        if dry_run:
            return report
        uow.commit()
    if forget_messages is not None and message_ids:
        forget_messages(message_ids)
    return report


def run_daily(
    uow: UnitOfWork, deps: Deps, *, pending_days: int = DEFAULT_PENDING_DAYS,
    ip_days: int = DEFAULT_IP_DAYS,
    forget_messages: Callable[[Sequence[str]], None] | None = None,
) -> RetentionReport | None:
    """Apply retention once per local day, whichever worker asks first; None when done today.

    The day is marked in the same transaction as the work: several workers never run it twice
    (the marker row is locked), and a crash part-way leaves the day unmarked, so it runs again.
    """
    _check_periods(pending_days, ip_days)
    now = deps.clock.now()
    today = now.astimezone(ZoneInfo(deps.practice.timezone)).date().isoformat()
    with uow:
        session = uow.session
        # Writing first takes the write lock on SQLite; FOR UPDATE waits on PostgreSQL.
        session.execute(ledger.dialect_insert(session)(ServiceState).values(
            name=LAST_RUN_STATE, value="", updated_at=now,
        ).on_conflict_do_nothing(index_elements=["name"]))
        marker = session.get(ServiceState, LAST_RUN_STATE, with_for_update=True,
                             populate_existing=True)
        if marker is None:  # pragma: no cover - inserted just above
            raise RuntimeError("the retention marker vanished")
        if marker.value == today:
            return None
        report, message_ids = _apply(session, now, pending_days, ip_days, dry_run=False)
        marker.value, marker.updated_at = today, now
        uow.commit()
    if forget_messages is not None and message_ids:
        forget_messages(message_ids)
    return report


def _check_periods(pending_days: int, ip_days: int) -> None:
    if pending_days < 1 or ip_days < 1:
        raise ValueError("retention periods must be at least one day")


def _apply(session: Session, now: datetime, pending_days: int, ip_days: int, *,
           dry_run: bool) -> tuple[RetentionReport, list[str]]:
    """Do the retention work in the caller's transaction; return the report and message ids."""
    pending_cutoff = now - timedelta(days=pending_days)
    ip_cutoff = now - timedelta(days=ip_days)
    message_ids: list[str] = []
    # Contacts whose every subscription is pending, the newest older than the cutoff.
    stale = select(Subscription.contact_id).group_by(Subscription.contact_id).having(
        func.max(Subscription.since) < pending_cutoff,
        func.sum(case((Subscription.state != SubscriptionState.PENDING.value, 1),
                      else_=0)) == 0,
    )
    contacts = list(session.scalars(
        select(Contact).where(Contact.erased_at.is_(None), Contact.id.in_(stale))
        .with_for_update()))
    for contact in contacts:
        for item in session.scalars(select(OutboxItem)
                                    .where(OutboxItem.contact_id == contact.id)):
            payload = json.loads(item.payload_json)
            if isinstance(payload, dict) and isinstance(payload.get("message_id"), str):
                message_ids.append(payload["message_id"])
        session.execute(delete(OutboxItem).where(OutboxItem.contact_id == contact.id))
        session.execute(delete(Evidence).where(Evidence.contact_id == contact.id))
        session.execute(delete(ContactCorrection)
                        .where(ContactCorrection.contact_id == contact.id))
        contact.email = contact.email_key = contact.name = contact.phone = None
        contact.flagged_reason = None
        contact.erased_at = contact.updated_at = now
        if not dry_run:
            domain_events.record(session, domain_events.ContactErased(contact.public_id, now))
    evidence_ips = session.execute(
        update(Evidence).where(Evidence.recorded_at < ip_cutoff,
                               (Evidence.ip.is_not(None)) | (Evidence.source_ip.is_not(None)))
        .values(ip=None, source_ip=None))
    audit_ips = session.execute(
        update(AuditEntry).where(AuditEntry.occurred_at < ip_cutoff,
                                 AuditEntry.ip.is_not(None)).values(ip=None))
    report = RetentionReport(len(contacts), int(getattr(evidence_ips, "rowcount", 0) or 0),
                             int(getattr(audit_ips, "rowcount", 0) or 0))
    if not dry_run:
        audit.append(session, RETENTION_ACTOR, "retention.run", detail={
            "pending_days": pending_days, "ip_days": ip_days,
            "pending_removed": report.pending_removed,
            "evidence_ips_cleared": report.evidence_ips_cleared,
            "audit_ips_cleared": report.audit_ips_cleared}, now=now)
    return report, message_ids

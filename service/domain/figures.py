"""The service's figures for monitoring and the staff overview, read from the database at the
moment they are asked.

Read from the database, not counted in memory: every web process and worker writes there, so
the figures are exact across any number of processes and survive restarts. Totals come from
append-only tables (the ledger, the outbox's attempts), so they only grow, like counters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from service.domain import health
from service.domain.mail import MAIL_KIND
from service.domain.mirror.status import mirror_health
from service.domain.models import (
    ConsentEvent,
    Contact,
    OutboxItem,
    OutboxStatus,
    Subscription,
    SubscriptionState,
    WebhookAttempt,
    WebhookDelivery,
)
from service.domain.uow import UnitOfWork


@dataclass
class Figures:
    """One reading of everything /metrics reports from the database."""

    # (kind, channel, method) -> events in the ledger
    events: dict[tuple[str, str, str], int] = field(default_factory=dict)
    # (channel, state) -> subscriptions
    subscriptions: dict[tuple[str, str], int] = field(default_factory=dict)
    # (kind, status) -> outbox items not done (pending, running, dead: parked)
    outbox: dict[tuple[str, str], int] = field(default_factory=dict)
    # kind -> age in seconds of the oldest item waiting (pending or running)
    oldest_waiting: dict[str, float] = field(default_factory=dict)
    # kind -> failed attempts ever (retried, given up, or succeeded after failing)
    failed_attempts: dict[str, int] = field(default_factory=dict)
    # status -> webhook deliveries
    webhook_deliveries: dict[str, int] = field(default_factory=dict)
    webhook_failed_attempts: int = 0
    mirror: dict[str, Any] = field(default_factory=dict)


def read(session: Session, *, now: datetime) -> Figures:
    """Read the figures in one session (a handful of grouped counts)."""
    figures = Figures()
    for kind, channel, method, count in session.execute(
        select(ConsentEvent.kind, ConsentEvent.channel, ConsentEvent.method, func.count())
        .group_by(ConsentEvent.kind, ConsentEvent.channel, ConsentEvent.method)
    ):
        figures.events[(kind, channel, method)] = int(count)
    for channel, state, count in session.execute(
        select(Subscription.channel, Subscription.state, func.count())
        .group_by(Subscription.channel, Subscription.state)
    ):
        figures.subscriptions[(channel, state)] = int(count)
    waiting = [OutboxStatus.PENDING.value, OutboxStatus.RUNNING.value]
    for kind, status, count, oldest in session.execute(
        select(OutboxItem.kind, OutboxItem.status, func.count(), func.min(OutboxItem.created_at))
        .where(OutboxItem.status != OutboxStatus.DONE.value)
        .group_by(OutboxItem.kind, OutboxItem.status)
    ):
        figures.outbox[(kind, status)] = int(count)
        if status in waiting and oldest is not None:
            age = max(0.0, (now - _aware(oldest, now)).total_seconds())
            figures.oldest_waiting[kind] = max(figures.oldest_waiting.get(kind, 0.0), age)
    # An attempt failed unless it is the one that succeeded (done) or is under way (running).
    failed = case(
        (OutboxItem.status.in_([OutboxStatus.DONE.value, OutboxStatus.RUNNING.value]),
         OutboxItem.attempts - 1),
        else_=OutboxItem.attempts,
    )
    for kind, total in session.execute(
        select(OutboxItem.kind, func.sum(failed))
        .group_by(OutboxItem.kind)
    ):
        figures.failed_attempts[kind] = max(0, int(total or 0))
    for status, count in session.execute(
        select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
    ):
        figures.webhook_deliveries[status] = int(count)
    figures.webhook_failed_attempts = int(session.scalar(
        select(func.count()).select_from(WebhookAttempt).where(
            (WebhookAttempt.status_code.is_(None)) | (WebhookAttempt.status_code < 200)
            | (WebhookAttempt.status_code >= 300))
    ) or 0)
    figures.mirror = dict(health.readiness(session, now=now).get("mirror", {}))
    return figures


@dataclass(frozen=True)
class Overview:
    """What the staff home page shows at a glance."""

    # channel -> people on the register (subscribed) and waiting for their confirmation
    on_register: dict[str, int]
    awaiting_confirmation: dict[str, int]
    flagged: int
    # the mirror's status row (last_success, last_error, needs_attention...) and lag_seconds
    mirror: dict[str, Any]
    mail_waiting: int
    mail_parked: int


def read_overview(uow: UnitOfWork, *, now: datetime) -> Overview:
    """Read the staff overview in one short transaction: four grouped counts and a status row."""
    with uow:
        session = uow.session
        on_register: dict[str, int] = {}
        awaiting: dict[str, int] = {}
        for channel, state, count in session.execute(
            select(Subscription.channel, Subscription.state, func.count())
            .join(Contact, Contact.id == Subscription.contact_id)
            .where(Contact.erased_at.is_(None), Subscription.state.in_(
                [SubscriptionState.SUBSCRIBED.value, SubscriptionState.PENDING.value]))
            .group_by(Subscription.channel, Subscription.state)
        ):
            counted = on_register if state == SubscriptionState.SUBSCRIBED.value else awaiting
            counted[channel] = int(count)
        flagged = int(session.scalar(
            select(func.count()).select_from(Contact)
            .where(Contact.erased_at.is_(None), Contact.flagged_reason.is_not(None))) or 0)
        mail = {status: int(count) for status, count in session.execute(
            select(OutboxItem.status, func.count())
            .where(OutboxItem.kind == MAIL_KIND, OutboxItem.status != OutboxStatus.DONE.value)
            .group_by(OutboxItem.status))}
        mirror = mirror_health(session, now=now)
    waiting = mail.get(OutboxStatus.PENDING.value, 0) + mail.get(OutboxStatus.RUNNING.value, 0)
    return Overview(on_register, awaiting, flagged, mirror, waiting,
                    mail.get(OutboxStatus.DEAD.value, 0))


def _aware(moment: datetime, now: datetime) -> datetime:
    """Return moment with now's time zone when the database handed back a naive time."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=now.tzinfo)

"""Bounces, spam complaints and unsubscribes reported by the email provider.

A complaint withdraws email consent (a complained event, method provider_complaint); so does an
unsubscribe the provider handled itself (a withdrawn event, method provider_unsubscribe); a
hard bounce marks the address
undeliverable, which takes it off the register until the address is corrected or the person
opts in again; soft bounces are counted. Each provider event is applied once, by its id.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from service.domain import inbound, ledger
from service.domain.channels import Channel
from service.domain.dependencies import Deps
from service.domain.ledger import Actor, EvidenceData
from service.domain.models import ActorType, EventKind, Method, SubscriptionState
from service.domain.normalize import email_key
from service.domain.uow import UnitOfWork

log = logging.getLogger("consent.webhooks")


class Outcome(enum.StrEnum):
    """What a provider event means for the address."""

    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    COMPLAINT = "complaint"
    # The person unsubscribed through the provider's own link, or the clinic's staff suppressed
    # the address at the provider: either way the clinic must stop mailing them.
    UNSUBSCRIBE = "unsubscribe"
    OTHER = "other"


PROVIDER_WITHDRAWAL_METHOD = Method.PROVIDER_UNSUBSCRIBE


@dataclass(frozen=True)
class ProviderEvent:
    """One provider event, translated: its id (for de-duplication), meaning and address."""

    event_id: str
    outcome: Outcome
    email: str
    detail: str | None = None


@dataclass(frozen=True)
class AppliedEvents:
    """How many events changed something, were repeats, or concerned nobody we hold."""

    applied: int = 0
    duplicates: int = 0
    unknown: int = 0
    ignored: int = 0


def apply_provider_events(
    uow: UnitOfWork,
    deps: Deps,
    provider: str,
    events: Sequence[ProviderEvent],
    *,
    sending_ip: str | None = None,
    delivery_key: str | None = None,
) -> AppliedEvents:
    """Apply bounces and complaints in one transaction, each provider event at most once.

    delivery_key is a one-time key of the delivery itself (Mailgun's signature token): when it
    was seen before, the delivery is a replay and nothing in it is applied, whatever its events.
    """
    now = deps.clock.now()
    applied = duplicates = unknown = ignored = 0
    actor = Actor(ActorType.PROVIDER, provider)
    with uow:
        session = uow.session
        if delivery_key is not None and not inbound.first_delivery(
            session, f"email:{provider}", delivery_key, now=now
        ):
            uow.commit()
            log.warning("%s delivery replayed (%s seen before); nothing applied",
                        provider, delivery_key[:40])
            return AppliedEvents(duplicates=len(events))
        for item in events:
            if item.outcome == Outcome.OTHER:
                ignored += 1
                continue
            if not inbound.first_delivery(session, f"email:{provider}", item.event_id, now=now):
                duplicates += 1
                continue
            contact = ledger.find_contact_by_email(session, email_key(item.email), lock=True)
            if contact is None:
                unknown += 1
                continue
            said = f" ({item.detail})" if item.detail else ""
            evidence = EvidenceData(source_ip=sending_ip,
                                    note=f"{provider} event {item.event_id}{said}"[:500])
            channel = Channel.EMAIL.value
            if item.outcome in (Outcome.COMPLAINT, Outcome.UNSUBSCRIBE):
                sub = ledger.subscription(session, contact, channel, lock=True)
                if sub is not None and sub.state != SubscriptionState.UNSUBSCRIBED:
                    kind, method = (
                        (EventKind.COMPLAINED, Method.PROVIDER_COMPLAINT)
                        if item.outcome == Outcome.COMPLAINT
                        else (EventKind.WITHDRAWN, PROVIDER_WITHDRAWAL_METHOD)
                    )
                    ledger.record(session, contact, channel, kind, method, actor, now=now,
                                  evidence=evidence, source=provider)
            elif item.outcome == Outcome.HARD_BOUNCE:
                if contact.email_undeliverable_at is None:
                    contact.email_undeliverable_at = now
                    ledger.record(session, contact, channel, EventKind.BOUNCED,
                                  Method.PROVIDER_BOUNCE, actor, now=now, evidence=evidence,
                                  source=provider)
            else:
                contact.soft_bounces = (contact.soft_bounces or 0) + 1
                contact.updated_at = now
            applied += 1
        uow.commit()
    if applied or duplicates or unknown:
        log.info("%s events: %d applied, %d repeated, %d for unknown addresses",
                 provider, applied, duplicates, unknown)
    return AppliedEvents(applied, duplicates, unknown, ignored)

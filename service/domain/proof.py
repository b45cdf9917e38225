"""The proof pack of one person: what the clinic hands a regulator when someone says "I never
agreed".

One document with every consent event (time in the practice's zone, channel, what happened,
how, who witnessed it), the exact wording shown, the evidence still held, where each event
stands in the ledger's hash chain and the first checkpoint kept outside the database that
covers it, and whether the whole ledger verified when the pack was made. Viewing or producing
it is audited. This module gathers the facts; service/proof_document.py lays them out (HTML,
PDF) in the staff member's language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from service.domain import audit, chain, rights
from service.domain.actors import Actor
from service.domain.chain_verify import VerifyReport
from service.domain.dependencies import Deps
from service.domain.uow import UnitOfWork


@dataclass(frozen=True)
class Verification:
    """What checking the whole ledger said when the pack was made."""

    whole: bool
    problem: str | None
    checked: dict[str, int] = field(default_factory=dict)  # chain -> entries walked
    checkpoints: int = 0

    @classmethod
    def of(cls, report: VerifyReport) -> Verification:
        """Summarise what `consent verify` found."""
        return cls(whole=report.whole, problem=report.first_problem(),
                   checked={name: part.links for name, part in report.chains.items()},
                   checkpoints=len(report.checkpoints))


@dataclass(frozen=True)
class ChainPlace:
    """Where one event stands in the events chain, and the checkpoint that covers it."""

    position: int
    hash: str
    previous_hash: str
    checkpoint_at: datetime | None  # in the practice's zone; None: not yet covered


@dataclass(frozen=True)
class ProofEvent:
    """One consent event as the pack shows it."""

    id: int
    at: datetime  # in the practice's zone
    channel: str
    kind: str
    method: str
    source: str | None
    actor_type: str
    actor_id: str | None
    notice_version: int | None
    notice_language: str | None
    notice_text: str | None
    notice_hash: str | None
    evidence: dict[str, Any] | None
    chain: ChainPlace | None


@dataclass(frozen=True)
class ProofPack:
    """Everything the pack holds about one person."""

    organization: str
    made_at: datetime  # in the practice's zone
    zone: str
    contact: dict[str, Any]
    subscriptions: list[dict[str, Any]]
    events: list[ProofEvent]
    verification: Verification


def _local(value: str | datetime | None, zone: ZoneInfo) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(zone)


def _place(session: Session, event_id: int, zone: ZoneInfo) -> ChainPlace | None:
    found = chain.event_proof(session, event_id)
    if found is None:
        return None
    covered = found.covered_by.made_at if found.covered_by is not None else None
    return ChainPlace(found.position, found.hash, found.previous_hash, _local(covered, zone))


def _events(session: Session, record: dict[str, Any], zone: ZoneInfo) -> list[ProofEvent]:
    events = []
    for event in record["consent_events"]:
        at = _local(event["occurred_at"], zone)
        assert at is not None
        events.append(ProofEvent(
            id=event["id"], at=at, channel=event["channel"], kind=event["kind"],
            method=event["method"], source=event["source"], actor_type=event["actor_type"],
            actor_id=event["actor_id"], notice_version=event["notice_version"],
            notice_language=event["notice_language"], notice_text=event["notice_text"],
            notice_hash=event["notice_hash"], evidence=event["evidence"],
            chain=_place(session, event["id"], zone),
        ))
    return events


def proof_pack(uow: UnitOfWork, deps: Deps, public_id: str, actor: Actor, *,
               verification: Verification, ip: str | None = None,
               action: str = "contact.proof") -> ProofPack:
    """Gather one person's proof pack; producing it is logged (raises ContactNotFound)."""
    now = deps.clock.now()
    zone = ZoneInfo(deps.practice.timezone)
    with uow:
        session = uow.session
        contact = rights.find_live(session, public_id)
        audit.append(session, actor, action, contact.public_id, ip, now=now)
        session.flush()
        record = rights.held_record(session, contact)
        events = _events(session, record, zone)
        uow.commit()
    subscriptions = [{**s, "since": _local(s["since"], zone)} for s in record["subscriptions"]]
    return ProofPack(
        organization=deps.practice.organization, made_at=now.astimezone(zone),
        zone=deps.practice.timezone, contact=record["contact"], subscriptions=subscriptions,
        events=events, verification=verification,
    )

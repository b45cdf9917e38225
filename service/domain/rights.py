"""The rights of the person: find, see (logged), correct, withdraw, export and erase.

Every use case here that shows or changes a person's data appends exactly one audit entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from service.domain import audit, domain_events, ledger, receipts
from service.domain.channels import CHANNELS
from service.domain.dependencies import Deps, ErasureRecord
from service.domain.languages import LANGUAGES, parse_language
from service.domain.ledger import Actor, EvidenceData
from service.domain.models import (
    AuditEntry,
    ConsentEvent,
    Contact,
    ContactCorrection,
    ErasedAddress,
    EventKind,
    Evidence,
    Method,
    Notice,
    OutboxItem,
    ServiceState,
    Subscription,
    SubscriptionState,
)
from service.domain.normalize import (
    FieldProblem,
    InvalidInput,
    email_key,
    parse_email,
    parse_name,
    parse_phone,
)
from service.domain.personal_record import record_as_csv, worded_record
from service.domain.uow import UnitOfWork

SEARCH_LIMIT = 50
MIN_QUERY = 2
ERASURE_KEY_NAME = "erasure_hash_key"


class ContactNotFound(Exception):
    """No contact has this id, or it has been erased."""


@dataclass(frozen=True)
class ContactSummary:
    """One line of a search result."""

    public_id: str
    name: str | None
    email: str | None
    phone: str | None
    flagged_reason: str | None
    states: dict[str, str]


def _states(session: Session, contact_ids: Sequence[int]) -> dict[int, dict[str, str]]:
    found: dict[int, dict[str, str]] = {i: {} for i in contact_ids}
    if contact_ids:
        for sub in session.scalars(select(Subscription)
                                   .where(Subscription.contact_id.in_(contact_ids))):
            found[sub.contact_id][sub.channel] = sub.state
    return found


def _summaries(session: Session, contacts: Sequence[Contact]) -> list[ContactSummary]:
    states = _states(session, [c.id for c in contacts])
    return [ContactSummary(c.public_id, c.name, c.email, c.phone, c.flagged_reason, states[c.id])
            for c in contacts]


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(uow: UnitOfWork, deps: Deps, query: str, actor: Actor, *,
           ip: str | None) -> list[ContactSummary]:
    """Find live contacts by part of an email address, a name or a phone number (audited)."""
    text = " ".join(query.split())
    if len(text) < MIN_QUERY:
        raise InvalidInput([FieldProblem("q", f"type at least {MIN_QUERY} characters",
                                          "query_short", MIN_QUERY)])
    conditions: list[ColumnElement[bool]] = [
        Contact.email_key.like(f"%{_escape_like(email_key(text))}%", escape="\\"),
        func.lower(Contact.name).like(f"%{_escape_like(text.lower())}%", escape="\\"),
    ]
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= 4 and len(digits) >= len(text.replace(" ", "")) - 2:
        with contextlib.suppress(InvalidInput):
            conditions.append(Contact.phone == parse_phone(text))
        conditions.append(Contact.phone.like(f"%{digits.lstrip('0')}%"))
    now = deps.clock.now()
    with uow:
        session = uow.session
        contacts = list(session.scalars(
            select(Contact).where(Contact.erased_at.is_(None), or_(*conditions))
            .order_by(Contact.name, Contact.id).limit(SEARCH_LIMIT)
        ))
        # The query may be an address: the log keeps only whom the results showed, by id.
        audit.append(session, actor, "contact.search", ip=ip,
                     detail={"results": len(contacts),
                             "contacts": [c.public_id for c in contacts]}, now=now)
        result = _summaries(session, contacts)
        uow.commit()
    return result


def flagged(uow: UnitOfWork) -> list[ContactSummary]:
    """Return the contacts flagged for staff (e.g. "I never agreed" from a receipt)."""
    with uow:
        contacts = list(uow.session.scalars(
            select(Contact).where(Contact.erased_at.is_(None), Contact.flagged_reason.is_not(None))
            .order_by(Contact.updated_at.desc()).limit(SEARCH_LIMIT)
        ))
        return _summaries(uow.session, contacts)


def find_live(session: Session, public_id: str, *, lock: bool = False) -> Contact:
    """Return the contact of this public id unless it is unknown or erased (ContactNotFound)."""
    return _live(session, public_id, lock=lock)


def _live(session: Session, public_id: str, *, lock: bool = False) -> Contact:
    contact = ledger.find_contact(session, public_id, lock=lock)
    if contact is None or contact.erased_at is not None:
        raise ContactNotFound(public_id)
    return contact


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _record(session: Session, contact: Contact) -> dict[str, Any]:
    """Gather everything held on a contact, as plain data."""
    subs = session.scalars(select(Subscription).where(Subscription.contact_id == contact.id)
                           .order_by(Subscription.channel))
    evidence = {e.event_id: e for e in session.scalars(
        select(Evidence).where(Evidence.contact_id == contact.id))}
    texts = {(n.version, n.language): n for n in session.scalars(select(Notice))}
    events = []
    for event in session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact.id)
                                 .order_by(ConsentEvent.occurred_at, ConsentEvent.id)):
        proof = evidence.get(event.id)
        notice = texts.get((event.notice_version or 0, event.notice_language or ""))
        events.append({
            "id": event.id, "occurred_at": _iso(event.occurred_at), "channel": event.channel,
            "kind": event.kind, "method": event.method, "source": event.source,
            "actor_type": event.actor_type, "actor_id": event.actor_id,
            "notice_version": event.notice_version, "notice_language": event.notice_language,
            "notice_text": notice.text if notice else None,
            "notice_hash": notice.content_hash if notice else None,
            "evidence": None if proof is None else {
                "ip": proof.ip, "source_ip": proof.source_ip, "user_agent": proof.user_agent,
                "page_url": proof.page_url,
                "fields": json.loads(proof.fields_json) if proof.fields_json else None,
                "note": proof.note, "recorded_at": _iso(proof.recorded_at),
            },
        })
    corrections = [
        {"field": c.field, "old_value": c.old_value, "new_value": c.new_value,
         "by": c.actor_id, "corrected_at": _iso(c.corrected_at)}
        for c in session.scalars(select(ContactCorrection)
                                 .where(ContactCorrection.contact_id == contact.id)
                                 .order_by(ContactCorrection.id))
    ]
    entries = [
        {"occurred_at": _iso(a.occurred_at), "actor_type": a.actor_type, "actor_id": a.actor_id,
         "action": a.action, "ip": a.ip,
         "detail": json.loads(a.detail_json) if a.detail_json else None}
        for a in session.scalars(select(AuditEntry)
                                 .where(AuditEntry.contact_public_id == contact.public_id)
                                 .order_by(AuditEntry.id))
    ]
    return {
        "contact": {
            "id": contact.public_id, "email": contact.email, "name": contact.name,
            "phone": contact.phone, "language": contact.language,
            "email_undeliverable_at": _iso(contact.email_undeliverable_at),
            "flagged_reason": contact.flagged_reason,
            "created_at": _iso(contact.created_at), "updated_at": _iso(contact.updated_at),
        },
        "subscriptions": [
            {"channel": s.channel, "state": s.state, "since": _iso(s.since), "method": s.method,
             "notice_version": s.notice_version, "witness": s.witness}
            for s in subs
        ],
        "consent_events": events,
        "corrections": corrections,
        "audit_entries": entries,
    }


def held_record(session: Session, contact: Contact) -> dict[str, Any]:
    """Return everything held on a contact, as plain data (what receipts are made from)."""
    return _record(session, contact)


def view_contact(uow: UnitOfWork, deps: Deps, public_id: str, actor: Actor, *,
                 ip: str | None, action: str = "contact.view") -> dict[str, Any]:
    """Return everything held on a contact; the viewing is logged."""
    now = deps.clock.now()
    with uow:
        session = uow.session
        contact = _live(session, public_id)
        audit.append(session, actor, action, contact.public_id, ip, now=now)
        session.flush()
        record = _record(session, contact)
        uow.commit()
    return record


def find_by_email(uow: UnitOfWork, deps: Deps, raw_email: str, actor: Actor, *,
                  ip: str | None) -> dict[str, Any] | None:
    """Look a live contact up by exact address (the staff API); the lookup is logged."""
    address = parse_email(raw_email)
    now = deps.clock.now()
    with uow:
        session = uow.session
        contact = ledger.find_contact_by_email(session, address.key)
        audit.append(session, actor, "contact.lookup",
                     contact.public_id if contact is not None else None, ip,
                     {"found": contact is not None}, now=now)
        summary = _summaries(session, [contact])[0] if contact is not None else None
        uow.commit()
    if summary is None:
        return None
    return {"id": summary.public_id, "email": summary.email, "name": summary.name,
            "phone": summary.phone, "flagged_reason": summary.flagged_reason,
            "subscriptions": summary.states}


# jsonld: the consent records as ISO/IEC TS 27560 JSON-LD (receipts.consent_records).
EXPORT_FORMATS = ("json", "csv", "jsonld")
EXPORT_MEDIA_TYPES = {"json": "application/json", "csv": "text/csv",
                      "jsonld": receipts.MEDIA_TYPE}


def export_contact(uow: UnitOfWork, deps: Deps, public_id: str, actor: Actor, *,
                   ip: str | None, fmt: str, language: str | None = None) -> str:
    """Return everything held on a contact as JSON, CSV or JSON-LD; the export is logged.

    With a language (fi, sv, en) the export is for a person: the JSON's keys and the CSV's
    header, sections and fields are words in it, and the CSV starts with a byte order mark so
    that Excel reads ä and ö. Without, it holds the stable codes programs read. JSON-LD keeps
    the standard's terms either way.
    """
    if language is not None and language not in LANGUAGES:
        raise InvalidInput([FieldProblem("language", "must be fi, sv or en")])
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput([FieldProblem("format", "must be json, csv or jsonld")])
    now = deps.clock.now()
    with uow:
        session = uow.session
        contact = _live(session, public_id)
        audit.append(session, actor, "contact.export", contact.public_id, ip,
                     {"format": fmt}, now=now)
        session.flush()
        record = _record(session, contact)
        uow.commit()
    if fmt == "jsonld":
        document = receipts.consent_records(record, receipts.controller_of(deps.practice))
        return receipts.as_bytes(document).decode("utf-8")
    record["exported_at"] = now.isoformat()
    if fmt == "json":
        shown = record if language is None else worded_record(record, language)
        return json.dumps(shown, ensure_ascii=False, indent=2)
    return record_as_csv(record, language)


@dataclass(frozen=True)
class Correction:
    """New values for a contact's details; None leaves a field as it is."""

    email: str | None = None
    name: str | None = None
    phone: str | None = None
    language: str | None = None


def correct_contact(uow: UnitOfWork, deps: Deps, public_id: str, wanted: Correction,
                    actor: Actor, *, ip: str | None) -> list[str]:
    """Correct details, keeping each old value (erasable) and logging which fields changed."""
    problems: list[FieldProblem] = []
    new: dict[str, str | None] = {}
    if wanted.email is not None:
        if wanted.email.strip():
            try:
                address = parse_email(wanted.email)
                new["email"] = address.display
            except InvalidInput as exc:
                problems.extend(exc.problems)
        else:
            new["email"] = None
    if wanted.name is not None:
        try:
            new["name"] = parse_name(wanted.name)
        except InvalidInput as exc:
            problems.extend(exc.problems)
    if wanted.phone is not None:
        try:
            new["phone"] = parse_phone(wanted.phone) if wanted.phone.strip() else None
        except InvalidInput as exc:
            problems.extend(exc.problems)
    if wanted.language is not None:
        try:
            new["language"] = parse_language(wanted.language, "fi")
        except InvalidInput as exc:
            problems.extend(exc.problems)
    if problems:
        raise InvalidInput(problems)
    now = deps.clock.now()
    with uow:
        session = uow.session
        contact = _live(session, public_id, lock=True)
        changed: list[str] = []
        for field, value in new.items():
            old = getattr(contact, field)
            if old == value:
                continue
            if field == "email":
                key = email_key(value) if value else None
                if key and key != contact.email_key:
                    other = ledger.find_contact_by_email(session, key)
                    if other is not None:
                        raise InvalidInput([FieldProblem(
                            "email", "another contact has this address; handle that one",
                            "email_taken")])
                    if _erased(session, key):
                        raise InvalidInput([FieldProblem(
                            "email", "this address was erased on request; it needs fresh "
                                     "consent, recorded as a new consent", "email_erased")])
                contact.email_key = key
                # A corrected address may work where the old one bounced.
                contact.email_undeliverable_at = None
            setattr(contact, field, value)
            session.add(ContactCorrection(contact_id=contact.id, field=field, old_value=old,
                                          new_value=value, actor_id=actor.id,
                                          corrected_at=now))
            changed.append(field)
        if changed:
            contact.updated_at = now
            domain_events.record(session, domain_events.ContactCorrected(
                contact.public_id, tuple(changed), occurred_at=now))
        audit.append(session, actor, "contact.correct", contact.public_id, ip,
                     {"fields": changed}, now=now)
        uow.commit()
    return changed


def clear_flag(uow: UnitOfWork, deps: Deps, public_id: str, actor: Actor, *,
               ip: str | None) -> None:
    """Mark a flagged contact as checked by staff."""
    now = deps.clock.now()
    with uow:
        contact = _live(uow.session, public_id, lock=True)
        old = contact.flagged_reason
        contact.flagged_reason = None
        contact.updated_at = now
        audit.append(uow.session, actor, "contact.unflag", contact.public_id, ip,
                     {"was": old}, now=now)
        uow.commit()


# A consent given (subscribed) or asked for and not yet confirmed (pending) can be withdrawn;
# an unsubscribed channel has nothing left to withdraw.
WITHDRAWABLE_STATES = (SubscriptionState.SUBSCRIBED.value, SubscriptionState.PENDING.value)


def withdrawable_channels(subscriptions: Sequence[dict[str, Any]]) -> list[str]:
    """Return the channels of a held record that staff can withdraw, in channel order."""
    live = {s["channel"] for s in subscriptions if s["state"] in WITHDRAWABLE_STATES}
    return [c for c in CHANNELS if c in live]


def withdraw(uow: UnitOfWork, deps: Deps, public_id: str, channels: Sequence[str], actor: Actor,
             *, ip: str | None, note: str | None = None) -> list[str]:
    """Withdraw consent on the person's request, as staff; return the channels changed.

    A request that changes nothing (every chosen channel already withdrawn) records nothing:
    no ledger event and no audit entry, since no data was shown or changed.
    """
    chosen = [c for c in CHANNELS if c in channels]
    if not chosen:
        raise InvalidInput([FieldProblem("channels", "choose email and/or sms",
                                         "channels_none")])
    now = deps.clock.now()
    with uow:
        session = uow.session
        contact = _live(session, public_id, lock=True)
        changed = []
        for channel in chosen:
            sub = ledger.subscription(session, contact, channel, lock=True)
            if sub is None or sub.state not in WITHDRAWABLE_STATES:
                continue
            ledger.record(session, contact, channel, EventKind.WITHDRAWN,
                          Method.STAFF_ON_REQUEST, actor, now=now, source="staff",
                          evidence=EvidenceData(source_ip=ip, note=note or None))
            changed.append(channel)
        if not changed:
            return changed
        audit.append(session, actor, "contact.withdraw", contact.public_id, ip,
                     {"channels": chosen, "changed": changed}, now=now)
        uow.commit()
    return changed


def erasure_key(session: Session, now: datetime) -> bytes:
    """Return the key of erased-address hashes: generated once, kept, never rotated."""
    row = session.get(ServiceState, ERASURE_KEY_NAME)
    if row is None:
        insert = ledger.dialect_insert(session)
        session.execute(insert(ServiceState).values(
            name=ERASURE_KEY_NAME, value=secrets.token_hex(32), updated_at=now,
        ).on_conflict_do_nothing(index_elements=["name"]))
        row = session.get(ServiceState, ERASURE_KEY_NAME, populate_existing=True)
        if row is None:  # pragma: no cover - inserted or already there
            raise RuntimeError("the erasure key vanished")
    return bytes.fromhex(row.value)


def address_hash(session: Session, key: str, now: datetime) -> str:
    """Return the keyed hash an erased address is remembered by."""
    return hmac.new(erasure_key(session, now), key.encode("utf-8"), hashlib.sha256).hexdigest()


def erasure_key_id(session: Session, now: datetime) -> str:
    """Return a fingerprint of the erasure key (not the key): which key made a journal's hashes."""
    return hashlib.sha256(b"erasure-key-id:" + erasure_key(session, now)).hexdigest()[:16]


def _erased(session: Session, key: str) -> bool:
    row = session.get(ServiceState, ERASURE_KEY_NAME)
    if row is None:
        return False
    digest = hmac.new(bytes.fromhex(row.value), key.encode("utf-8"), hashlib.sha256).hexdigest()
    return session.get(ErasedAddress, digest) is not None


def is_erased(session: Session, key: str) -> bool:
    """Tell whether an address (by its key) was erased on request."""
    return _erased(session, key)


@dataclass(frozen=True)
class ErasureOutcome:
    """What an erasure removed; message ids let the caller delete written .eml files."""

    public_id: str
    evidence_removed: int
    messages_removed: list[str]


def erase_contact(uow: UnitOfWork, deps: Deps, public_id: str, actor: Actor, *,
                  ip: str | None,
                  forget_messages: Callable[[Sequence[str]], None] | None = None,
                  ) -> ErasureOutcome:
    """Erase a person: a tombstone stays for the ledger, every personal detail goes.

    Consent is withdrawn first (new events; the ledger itself is never changed), then the
    details, evidence, corrections and queued or sent messages are removed, a keyed hash of the
    address is kept against re-import, and a mirror pass is queued so the Sheet row goes.
    """
    now = deps.clock.now()
    with uow:
        session = uow.session
        contact = _live(session, public_id, lock=True)
        for channel in CHANNELS:
            sub = ledger.subscription(session, contact, channel, lock=True)
            if sub is not None and sub.state != SubscriptionState.UNSUBSCRIBED.value:
                ledger.record(session, contact, channel, EventKind.WITHDRAWN,
                              Method.STAFF_ON_REQUEST, actor, now=now, source="erasure")
        digest = None
        if contact.email_key:
            digest = address_hash(session, contact.email_key, now)
            if session.get(ErasedAddress, digest) is None:
                session.add(ErasedAddress(address_hash=digest, erased_at=now))
        message_ids = []
        for item in session.scalars(select(OutboxItem).where(OutboxItem.contact_id == contact.id)):
            payload = json.loads(item.payload_json)
            if isinstance(payload, dict) and isinstance(payload.get("message_id"), str):
                message_ids.append(payload["message_id"])
        session.execute(delete(OutboxItem).where(OutboxItem.contact_id == contact.id))
        removed = session.execute(delete(Evidence).where(Evidence.contact_id == contact.id))
        session.execute(delete(ContactCorrection)
                        .where(ContactCorrection.contact_id == contact.id))
        contact.email = None
        contact.email_key = None
        contact.name = None
        contact.phone = None
        contact.flagged_reason = None
        contact.email_undeliverable_at = None
        contact.erased_at = now
        contact.updated_at = now
        # Queued deliveries lose the person's details; endpoints hear of the erasure by id.
        domain_events.record(session, domain_events.ContactErased(contact.public_id, now))
        audit.append(session, actor, "contact.erase", contact.public_id, ip,
                     {"evidence_removed": int(getattr(removed, "rowcount", 0) or 0),
                      "messages_removed": len(message_ids)}, now=now)
        outcome = ErasureOutcome(contact.public_id, int(getattr(removed, "rowcount", 0) or 0),
                                 message_ids)
        if deps.erasure_journal is not None:
            # Journalled before the commit: a restore must never miss an erasure that happened.
            # Should the commit fail after this, a restore erases someone whose erasure was
            # asked for and confirmed, which errs on the person's side. A journal that cannot
            # be written fails the erasure instead of leaving it unrecorded.
            deps.erasure_journal.record(ErasureRecord(
                contact_id=contact.public_id, address_hash=digest,
                key_id=erasure_key_id(session, now), erased_at=now,
            ))
        uow.commit()
    # Files go only once the erasure is committed; a failure here leaves a file, not a person.
    if forget_messages is not None and message_ids:
        forget_messages(message_ids)
    return outcome

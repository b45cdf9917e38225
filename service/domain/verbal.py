"""Consent given out loud, at the desk or on the phone, its receipt and "I never agreed"."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain import audit, i18n, ledger, letters, links
from service.domain.channels import (
    Channel,
    ChannelsProblem,
    in_channel_order,
    read_channels,
)
from service.domain.dependencies import Deps
from service.domain.i18n import t
from service.domain.languages import parse_language
from service.domain.ledger import Actor, EvidenceData
from service.domain.links import DisputeLink, linked_contact
from service.domain.models import (
    ConsentEvent,
    Contact,
    EventKind,
    Method,
    SubscriptionState,
)
from service.domain.normalize import (
    Address,
    FieldProblem,
    InvalidInput,
    mask_email,
    parse_email,
    parse_name,
    parse_notice,
    parse_noting,
    parse_phone,
    text_trimmed,
    too_long,
)
from service.domain.optin import RequestContext
from service.domain.uow import UnitOfWork

MAX_NOTE = 2000
DISPUTED = "disputed_receipt"


class VerbalMethod(enum.StrEnum):
    """How the consent was given out loud (the API's `method` values)."""

    IN_PERSON = "in_person"
    PHONE = "phone"


LEDGER_METHOD = {VerbalMethod.IN_PERSON: Method.VERBAL_IN_PERSON,
                 VerbalMethod.PHONE: Method.VERBAL_PHONE}


@dataclass(frozen=True)
class VerbalConsent:
    """A validated consent given out loud."""

    address: Address | None
    phone: str | None
    name: str | None
    language: str
    channels: tuple[str, ...]
    method: VerbalMethod
    notice: int | None
    note: str | None


@dataclass(frozen=True)
class VerbalOutcome:
    """What recording it did."""

    contact_id: str
    channels: tuple[str, ...]
    notice_version: int
    receipt_sent: bool


def _channels(raw: Any, problems: list[FieldProblem]) -> tuple[str, ...]:
    """Return the channels consented to, in CHANNELS order; staff must choose at least one."""
    read = read_channels(raw)
    if read.problem is ChannelsProblem.NONE_CHOSEN:
        problems.append(FieldProblem("channels", "choose at least one: email, sms",
                                     "channels_none"))
    elif read.problem is not None:
        problems.append(FieldProblem("channels", "may contain only email and sms",
                                     "channels_unknown"))
    return in_channel_order(read.channels)


def parse_verbal_consent(raw: Mapping[str, Any], *, default_language: str) -> VerbalConsent:
    """Validate a verbal consent (a staff form or the API), naming every field at fault."""
    problems: list[FieldProblem] = []
    email = text_trimmed(raw, "email", problems)
    address = parse_noting(parse_email, email, problems)
    phone_text = text_trimmed(raw, "phone", problems)
    phone = parse_noting(parse_phone, phone_text, problems)
    if not email and not phone_text:
        problems.append(FieldProblem("email", "give an email address and/or a phone number",
                                     "email_or_phone"))
    name = parse_noting(parse_name, text_trimmed(raw, "name", problems), problems)
    language = default_language
    try:
        language = parse_language(text_trimmed(raw, "language", problems), default_language)
    except InvalidInput as exc:
        problems.extend(exc.problems)

    channels = _channels(raw.get("channels"), problems)
    if Channel.EMAIL.value in channels and email is None:
        problems.append(FieldProblem("email", "is required for the email channel",
                                     "email_for_email"))
    if Channel.SMS.value in channels and phone_text is None:
        problems.append(FieldProblem("phone", "is required for the sms channel",
                                     "phone_for_sms"))

    method_raw = raw.get("method")
    method = VerbalMethod.IN_PERSON
    try:
        method = VerbalMethod(str(method_raw))
    except ValueError:
        problems.append(FieldProblem("method", "must be in_person or phone", "verbal_method"))

    notice: int | None = None
    try:
        notice = parse_notice(raw.get("notice"))
    except InvalidInput as exc:
        problems.extend(exc.problems)

    note = text_trimmed(raw, "note", problems)
    if note and len(note) > MAX_NOTE:
        problems.append(too_long("note", MAX_NOTE))
    if problems:
        raise InvalidInput(problems)
    return VerbalConsent(address, phone, name, language, channels, method, notice, note)


def form_language(raw: Mapping[str, Any], *, default_language: str) -> str:
    """Return the person's language as the form chose it, the default until one is chosen."""
    try:
        return parse_language(raw.get("language"), default_language)
    except InvalidInput:
        return default_language


@dataclass(frozen=True)
class Wording:
    """The consent wording a receptionist reads out: its version, language and words."""

    version: int
    language: str
    text: str
    # False when the version has no text in the person's language and another is shown.
    in_persons_language: bool


def wording_to_read(texts: Mapping[str, str], version: int, language: str) -> Wording:
    """Return the version's wording in the person's language, else the one the ledger records.

    The fallback is ledger.resolve_notice's (Finnish, else the first there is), so what is
    read out is what the consent event will hold.
    """
    if language in texts:
        return Wording(version, language, texts[language], True)
    shown = "fi" if "fi" in texts else sorted(texts)[0]
    return Wording(version, shown, texts[shown], False)


def _contact_for(session: Session, form: VerbalConsent, now: datetime) -> Contact:
    """Return the contact the consent is about: by address, else by phone, else a new one."""
    # What the person says now fills gaps; staff correct existing details on the contact page.
    if form.address is not None:
        contact, _created = ledger.upsert_contact(
            session, form.address, name=form.name, phone=form.phone, language=form.language,
            now=now,
        )
        return contact
    contact = session.scalars(
        select(Contact).where(Contact.phone == form.phone, Contact.erased_at.is_(None))
        .order_by(Contact.id).with_for_update()
    ).first() or _new_phone_contact(session, form, now)
    if contact.name is None and form.name:
        contact.name = form.name
    return contact


def _new_phone_contact(session: Session, form: VerbalConsent, now: datetime) -> Contact:
    contact = Contact(public_id=str(uuid.uuid4()), email=None, email_key=None, name=form.name,
                      phone=form.phone, language=form.language, soft_bounces=0,
                      created_at=now, updated_at=now)
    session.add(contact)
    session.flush()
    return contact


def record_verbal_consent(
    uow: UnitOfWork, deps: Deps, form: VerbalConsent, actor: Actor, *, witness: str,
    ip: str | None, user_agent: str | None = None, source: str | None = None,
) -> VerbalOutcome:
    """Grant the consent at once with the staff account as witness, and mail the receipt."""
    now = deps.clock.now()
    with uow:
        session = uow.session
        notice = ledger.resolve_notice(session, form.notice, form.language)
        contact = _contact_for(session, form, now)
        evidence = EvidenceData(
            source_ip=ip, user_agent=user_agent, note=form.note,
            fields={"email": form.address.display if form.address else None,
                    "phone": form.phone, "name": form.name, "language": form.language,
                    "channels": list(form.channels), "method": form.method.value,
                    "notice": notice.version, "witness": witness},
        )
        events = [
            ledger.record(session, contact, channel, EventKind.GRANTED, LEDGER_METHOD[form.method],
                          actor, now=now, notice=notice, evidence=evidence, witness=witness,
                          source=source)
            for channel in form.channels
        ]
        if Channel.EMAIL.value in form.channels and contact.email_undeliverable_at is not None:
            # The person has just told us the address again.
            contact.email_undeliverable_at = None
        receipt = contact.email is not None
        if receipt:
            _queue_receipt(session, deps, contact, events, now)
        audit.append(session, actor, "consent.verbal", contact.public_id, ip,
                     {"channels": list(form.channels), "method": form.method.value,
                      "notice": notice.version}, now=now)
        outcome = VerbalOutcome(contact.public_id, form.channels, notice.version, receipt)
        uow.commit()
    return outcome


def _queue_receipt(session: Session, deps: Deps, contact: Contact,
                   events: list[ConsentEvent], now: datetime) -> None:
    lang = contact.language
    org = deps.practice.organization
    link = links.url(deps, DisputeLink(contact.public_id, tuple(e.id for e in events)))
    channels = ", ".join(t(lang, f"channel.{e.channel}").lower() for e in events)
    body = t(lang, "mail.receipt.body", name=f" {contact.name}" if contact.name else "",
             date=i18n.local_date(now, lang, deps.practice.timezone), org=org,
             channels=channels, address=contact.email, link=link)
    letters.queue_to_contact(
        session, deps, contact, key=f"receipt:{contact.public_id}:{events[0].id}",
        subject=t(lang, "mail.receipt.subject", org=org), paragraphs=body.split("\n\n"),
        now=now, action=(t(lang, "mail.receipt.button"), link),
        attachments=(letters.consent_receipt(session, deps, contact, now=now),),
    )


@dataclass(frozen=True)
class DisputeView:
    """What the "I never agreed" page shows."""

    masked_address: str
    language: str


def view_dispute(uow: UnitOfWork, deps: Deps, token: str) -> DisputeView:
    """Describe the dispute page, changing nothing (a GET never changes state)."""
    link = links.read(deps, DisputeLink, token)
    with uow:
        contact = linked_contact(uow.session, link.contact_id)
        return DisputeView(mask_email(contact.email) if contact.email else "***",
                           contact.language)


def dispute_receipt(uow: UnitOfWork, deps: Deps, token: str,
                    context: RequestContext) -> DisputeView:
    """Withdraw what the receipt's consents granted and flag the contact for staff."""
    link = links.read(deps, DisputeLink, token)
    now = deps.clock.now()
    with uow:
        session = uow.session
        contact = linked_contact(session, link.contact_id, lock=True)
        channels = {e.channel for e in session.scalars(
            select(ConsentEvent).where(ConsentEvent.id.in_(link.consent_event_ids),
                                       ConsentEvent.contact_id == contact.id))}
        evidence = EvidenceData(ip=context.ip, user_agent=context.user_agent,
                                note="the person says they never agreed (receipt link)")
        for channel in sorted(channels):
            sub = ledger.subscription(session, contact, channel, lock=True)
            if sub is None or sub.state == SubscriptionState.UNSUBSCRIBED.value:
                continue
            ledger.record(session, contact, channel, EventKind.WITHDRAWN, Method.RECEIPT_DISPUTE,
                          Actor.person(), now=now, evidence=evidence)
        contact.flagged_reason = DISPUTED
        contact.updated_at = now
        view = DisputeView(mask_email(contact.email) if contact.email else "***",
                           contact.language)
        uow.commit()
    return view

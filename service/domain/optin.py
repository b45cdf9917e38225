"""Website opt-in: request, double opt-in confirmation, single opt-in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from service.domain import ledger, letters, links
from service.domain.channels import Channel, ChannelsProblem, read_channels
from service.domain.dependencies import Deps
from service.domain.languages import parse_language
from service.domain.ledger import Actor, EvidenceData
from service.domain.links import LinkNotUsable
from service.domain.models import Contact, EventKind, Method, SubscriptionState
from service.domain.normalize import (
    MAX_URL,
    Address,
    FieldProblem,
    InvalidInput,
    mask_email,
    parse_email,
    parse_name,
    parse_notice,
    parse_noting,
    parse_phone,
    text_as_sent,
    too_long,
)
from service.domain.uow import UnitOfWork

# A pending address gets at most one confirmation message in this period.
CONFIRMATION_COOLDOWN = timedelta(minutes=10)
TRUE_WORDS = ("true", "on", "1", "yes")


@dataclass(frozen=True)
class OptInForm:
    """A validated opt-in."""

    address: Address
    name: str | None
    phone: str | None
    language: str
    channels: tuple[str, ...]
    notice: int | None
    page_url: str | None
    submitted: Mapping[str, Any]


@dataclass(frozen=True)
class RequestContext:
    """Where a request came from, for the evidence."""

    ip: str | None = None
    user_agent: str | None = None
    source_ip: str | None = None


@dataclass(frozen=True)
class OptInOutcome:
    """The answer to an opt-in; the same whether or not the address was known.

    recorded says whether anything was written (never shown to the caller: the web layer uses
    it to make both kinds of answer take as long).
    """

    status: str
    recorded: bool = True


def _channels(raw: Any, problems: list[FieldProblem]) -> tuple[str, ...]:
    """Return the channels asked for; a form that names none asks for email."""
    read = read_channels(raw, as_typed=True)
    if read.problem is ChannelsProblem.NONE_CHOSEN:
        return (Channel.EMAIL.value,)
    if read.problem is ChannelsProblem.NOT_A_LIST:
        problems.append(FieldProblem("channels", "must be a list of email and/or sms"))
    elif read.problem is not None:
        problems.append(FieldProblem("channels", "may contain only email and sms",
                                     "channels_unknown"))
    return read.channels


def parse_opt_in(raw: Mapping[str, Any], *, default_language: str) -> OptInForm:
    """Validate the fields of an opt-in, naming every field at fault."""
    problems: list[FieldProblem] = []
    address: Address | None = None
    email = text_as_sent(raw, "email", problems)
    if email is None or not email.strip():
        problems.append(FieldProblem("email", "is required", "required"))
    else:
        address = parse_noting(parse_email, email, problems)
    name = parse_noting(parse_name, text_as_sent(raw, "name", problems), problems)
    phone_text = text_as_sent(raw, "phone", problems)
    phone = None
    if phone_text and phone_text.strip():
        phone = parse_noting(parse_phone, phone_text, problems)
    language = default_language
    try:
        language = parse_language(text_as_sent(raw, "language", problems), default_language)
    except InvalidInput as exc:
        problems.extend(exc.problems)
    channels = _channels(raw.get("channels"), problems)
    if Channel.SMS.value in channels and phone is None and not any(
        p.field == "phone" for p in problems
    ):
        problems.append(FieldProblem("phone", "is required for text messages (channel sms)",
                                     "phone_for_sms"))

    consent = raw.get("consent")
    if not (consent is True or (isinstance(consent, str) and consent.lower() in TRUE_WORDS)):
        problems.append(FieldProblem("consent", "must be ticked (true or on) to subscribe",
                                     "consent_unticked"))

    notice: int | None = None
    try:
        notice = parse_notice(raw.get("notice"))
    except InvalidInput as exc:
        problems.extend(exc.problems)

    page_url = text_as_sent(raw, "page_url", problems)
    if page_url is not None:
        page_url = page_url.strip() or None
        if page_url and len(page_url) > MAX_URL:
            problems.append(too_long("page_url", MAX_URL))
        elif page_url and not page_url.startswith(("http://", "https://")):
            problems.append(FieldProblem("page_url", "must be an http(s) address",
                                         "page_url_not_http"))

    if problems or address is None:
        raise InvalidInput(problems)
    submitted = {
        k: raw[k]
        for k in ("email", "name", "phone", "language", "channels", "consent", "notice", "page_url")
        if k in raw
    }
    return OptInForm(address, name, phone, language, channels, notice, page_url, submitted)


def request_opt_in(
    uow: UnitOfWork, deps: Deps, form: OptInForm, context: RequestContext,
    *, method: Method = Method.WEB_FORM, source: str | None = None,
) -> OptInOutcome:
    """Record an opt-in and send what it calls for; known and unknown addresses look alike."""
    now = deps.clock.now()
    double = deps.practice.double_opt_in
    with uow:
        session = uow.session
        notice = ledger.resolve_notice(session, form.notice, form.language)
        # Whoever asks has not shown they own the address: a known contact keeps what it has,
        # and the name and phone asked with apply when the owner confirms (confirm_opt_in).
        contact, created = ledger.upsert_contact(
            session, form.address, name=form.name, phone=form.phone,
            language=form.language, now=now, fill_gaps=False,
        )
        # The rows read here are locked and kept in hand, not read again. A contact created
        # just now has no subscriptions yet, and nobody else can see it.
        subs = {} if created else ledger.subscriptions_of(session, contact, lock=True)
        to_record = [
            channel for channel in form.channels
            # A bounced address opting in again is asked (or, single opt-in, taken) anew.
            if not (
                (current := subs.get(channel)) is not None
                and current.state == SubscriptionState.SUBSCRIBED
                and not (channel == Channel.EMAIL.value
                         and contact.email_undeliverable_at is not None)
            )
        ]
        email_sub = subs.get(Channel.EMAIL.value)
        last_sent = email_sub.confirmation_sent_at if email_sub is not None else None
        confirm = bool(to_record) and double and (
            last_sent is None or now - last_sent >= CONFIRMATION_COOLDOWN
        )
        evidence = EvidenceData(
            ip=context.ip, source_ip=context.source_ip, user_agent=context.user_agent,
            page_url=form.page_url, fields=form.submitted,
        )
        kind = EventKind.REQUESTED if double else EventKind.GRANTED
        first_event_id: int | None = None
        for channel in to_record:
            event = ledger.record(
                session, contact, channel, kind, method, Actor.person(),
                now=now, notice=notice, evidence=evidence, source=source,
                subscriptions=subs,
                confirmation_sent_at=now if confirm and channel == Channel.EMAIL.value else None,
            )
            first_event_id = first_event_id or event.id

        if confirm:
            if email_sub is not None and Channel.EMAIL.value not in to_record:
                email_sub.confirmation_sent_at = now
            pending = [
                ch for ch in form.channels
                if (sub := subs.get(ch)) is not None and sub.state == SubscriptionState.PENDING
            ]
            confirm_url = links.url(deps, links.ConfirmLink(
                contact.public_id, tuple(pending), requested_event_id=first_event_id))
            letters.queue_confirmation(
                session, deps, contact, confirm_url,
                key=f"confirm:{contact.public_id}:{first_event_id}", now=now,
            )
        elif not double and Channel.EMAIL.value in to_record:
            # Opting in again (single opt-in) brings a bounced address back to the register.
            contact.email_undeliverable_at = None
            letters.queue_welcome(
                session, deps, contact, key=f"welcome:{contact.public_id}:{first_event_id}",
                now=now,
            )
        # The mirror pass follows from the events, queued at commit: its shared pending row
        # is held as briefly as can be.
        uow.commit()
    return OptInOutcome("pending" if double else "subscribed", recorded=bool(to_record))


@dataclass(frozen=True)
class ConfirmationView:
    """What the confirmation page shows before the button is pressed."""

    masked_address: str
    language: str
    already_confirmed: bool


def _apply_requested_details(session: Session, contact: Contact, request_id: int | None) -> None:
    """Fill the contact's missing name and phone from the opt-in its owner just confirmed.

    The details come from that opt-in's own evidence (what was submitted), so nothing a later
    stranger typed can slip in; what the contact already has is never overwritten.
    """
    if request_id is None or (contact.name is not None and contact.phone is not None):
        return
    submitted = ledger.submitted_fields(session, request_id, contact.id)
    if not submitted:
        return
    problems: list[FieldProblem] = []
    if contact.name is None:
        name = text_as_sent(submitted, "name", problems)
        contact.name = parse_noting(parse_name, name, problems)
    if contact.phone is None:
        phone = text_as_sent(submitted, "phone", problems)
        contact.phone = parse_noting(parse_phone, phone, problems)


def view_confirmation(uow: UnitOfWork, deps: Deps, token: str) -> ConfirmationView:
    """Describe what confirming would do, changing nothing."""
    link = links.read(deps, links.ConfirmLink, token)
    with uow:
        contact = ledger.find_contact(uow.session, link.contact_id)
        if contact is None or contact.erased_at is not None or contact.email is None:
            raise LinkNotUsable(links.INVALID)
        states = [ledger.subscription(uow.session, contact, ch) for ch in link.channels]
        if any(s is None or s.state == SubscriptionState.UNSUBSCRIBED for s in states):
            raise LinkNotUsable(links.INVALID, contact.language)
        return ConfirmationView(
            masked_address=mask_email(contact.email),
            language=contact.language,
            already_confirmed=all(
                s is not None and s.state == SubscriptionState.SUBSCRIBED for s in states
            ),
        )


def confirm_opt_in(
    uow: UnitOfWork, deps: Deps, token: str, context: RequestContext
) -> ConfirmationView:
    """Confirm the pending channels named by a valid confirmation token; a repeat is harmless."""
    link = links.read(deps, links.ConfirmLink, token)
    now = deps.clock.now()
    with uow:
        session = uow.session
        contact = ledger.find_contact(session, link.contact_id, lock=True)
        if contact is None or contact.erased_at is not None or contact.email is None:
            raise LinkNotUsable(links.INVALID)
        # Read and locked once, and handed to the ledger, which moves them without reading again.
        held = ledger.subscriptions_of(session, contact, lock=True)
        subs = {ch: held.get(ch) for ch in link.channels}
        if any(s is None or s.state == SubscriptionState.UNSUBSCRIBED for s in subs.values()):
            # The person withdrew after asking; an old link must not undo that.
            raise LinkNotUsable(links.INVALID, contact.language)
        evidence = EvidenceData(ip=context.ip, user_agent=context.user_agent)
        confirmed_email = False
        for channel, sub in subs.items():
            if sub is None or sub.state != SubscriptionState.PENDING:
                continue
            notice = (
                ledger.NoticeRef(sub.notice_version, contact.language)
                if sub.notice_version else None
            )
            event = ledger.record(
                session, contact, channel, EventKind.CONFIRMED, Method.CONFIRMATION_LINK,
                Actor.person(), now=now, notice=notice, evidence=evidence, subscriptions=held,
            )
            if channel == Channel.EMAIL.value:
                confirmed_email = True
                welcome_key = f"welcome:{contact.public_id}:{event.id}"
        if confirmed_email:
            _apply_requested_details(session, contact, link.requested_event_id)
        if contact.email_undeliverable_at is not None and confirmed_email:
            # Confirming proves the address works again.
            contact.email_undeliverable_at = None
        if confirmed_email:
            letters.queue_welcome(session, deps, contact, key=welcome_key, now=now)
        view = ConfirmationView(mask_email(contact.email), contact.language, True)
        uow.commit()
    return view

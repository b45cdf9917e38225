"""Leaving the register: the unsubscribe link, its answer page, undo, and "send me my link"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain import audit, ledger, letters, links
from service.domain.channels import CHANNELS, Channel, in_channel_order, read_channels
from service.domain.dependencies import Deps
from service.domain.i18n import t
from service.domain.ledger import Actor, EvidenceData
from service.domain.links import UndoLink, UnsubscribeLink, linked_contact
from service.domain.mail import Attachment
from service.domain.models import (
    ConsentEvent,
    Contact,
    EventKind,
    Evidence,
    Method,
    Subscription,
    SubscriptionState,
)
from service.domain.normalize import FieldProblem, InvalidInput, mask_email, parse_email, too_long
from service.domain.optin import RequestContext
from service.domain.uow import UnitOfWork

# Withdrawals made through the link by the person; only these may be undone or given a reason.
LINK_METHODS = (Method.UNSUBSCRIBE_PAGE.value, Method.ONE_CLICK.value)
REASONS = ("too_many", "not_relevant", "never_signed_up", "other")
# "I never signed up" flags the record for staff, as the receipt's "I never agreed" does.
NEVER_SIGNED_UP = "never_signed_up"
DISPUTED_BY_LINK = "disputed_unsubscribe"
MAX_REASON_TEXT = 1000
# "Send me my link" mails one contact at most once in this many seconds, however often asked.
LINK_MAIL_WINDOW_SECONDS = 600


@dataclass(frozen=True)
class UnsubscribeView:
    """What the unsubscribe page shows: whose address, which channel; nothing is changed."""

    masked_address: str
    channel: str
    language: str
    subscribed: bool
    other_channels: tuple[str, ...]
    # Every channel still sending to the person, with its masked address, for the page to offer
    # a stop for each; left out of ==, which compares what the link itself is about.
    active: tuple[tuple[str, str], ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class WithdrawalOutcome:
    """What a withdrawal through the link did, for the answer page."""

    masked_address: str
    channel: str
    language: str
    changed: tuple[str, ...]
    other_channels: tuple[str, ...]
    undo_token: str | None
    active: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class UndoOutcome:
    """What "I changed my mind" did."""

    language: str
    restored: tuple[str, ...]


def mask_phone(phone: str) -> str:
    """Show a phone number so its owner recognises it: +358 *** **67."""
    return f"{phone[:4]} *** **{phone[-2:]}" if len(phone) > 6 else "***"


def _masked(contact: Contact, channel: str) -> str:
    if channel == Channel.SMS.value:
        return mask_phone(contact.phone) if contact.phone else "***"
    return mask_email(contact.email) if contact.email else "***"


def _active(subs: Mapping[str, Subscription], channel: str) -> bool:
    sub = subs.get(channel)
    return sub is not None and sub.state in (
        SubscriptionState.SUBSCRIBED.value, SubscriptionState.PENDING.value
    )


def _others(subs: Mapping[str, Subscription], channel: str) -> tuple[str, ...]:
    return tuple(ch for ch in CHANNELS if ch != channel and _active(subs, ch))


def _still_sending(contact: Contact, subs: Mapping[str, Subscription]
                   ) -> tuple[tuple[str, str], ...]:
    return tuple((ch, _masked(contact, ch)) for ch in CHANNELS if _active(subs, ch))


def _chosen(link: UnsubscribeLink, channel: str | None) -> str:
    """Return the channel the person chose on the link's page, else the link's own."""
    if channel is None or channel == link.channel:
        return link.channel
    if channel not in CHANNELS:
        raise InvalidInput([FieldProblem("channel", "must be email or sms", "channels_unknown")])
    # The link proves the person; every channel of theirs is theirs to stop.
    return channel


def view_unsubscribe(uow: UnitOfWork, deps: Deps, token: str) -> UnsubscribeView:
    """Describe what the link would withdraw, changing nothing."""
    link = links.read(deps, UnsubscribeLink, token)
    channel = link.channel
    with uow:
        session = uow.session
        contact = linked_contact(session, link.contact_id)
        subs = ledger.subscriptions_of(session, contact)
        return UnsubscribeView(
            masked_address=_masked(contact, channel),
            channel=channel,
            language=contact.language,
            subscribed=_active(subs, channel),
            other_channels=_others(subs, channel),
            active=_still_sending(contact, subs),
        )


def receipt_by_link(uow: UnitOfWork, deps: Deps, token: str) -> Attachment:
    """Return the link's person's consent receipt as of now, changing nothing."""
    link = links.read(deps, UnsubscribeLink, token)
    with uow:
        contact = linked_contact(uow.session, link.contact_id)
        return letters.consent_receipt(uow.session, deps, contact, now=deps.clock.now())


def _withdraw(
    session: Session, contact: Contact, channels: Sequence[str], method: str, actor: Actor,
    evidence: EvidenceData, *, now: datetime, source: str | None = None,
    subs: dict[str, Subscription] | None = None,
) -> list[ConsentEvent]:
    """Withdraw each channel that is subscribed or pending; the others are left alone.

    subs, when given, are the contact's subscriptions already locked (ledger.subscriptions_of); the
    withdrawals update them in place, so the caller can describe the result without a query.
    """
    if subs is None:
        subs = ledger.subscriptions_of(session, contact, lock=True)
    events = []
    for channel in channels:
        sub = subs.get(channel)
        if sub is None or sub.state == SubscriptionState.UNSUBSCRIBED.value:
            continue
        events.append(ledger.record(
            session, contact, channel, EventKind.WITHDRAWN, method, actor,
            now=now, evidence=evidence, source=source, subscriptions=subs,
        ))
    return events


def _undoable(subs: Mapping[str, Subscription], now: datetime) -> list[int]:
    """Return the person's own link withdrawals still young enough to be undone."""
    window = links.UNDO_WINDOW
    ids = []
    for channel in CHANNELS:
        sub = subs.get(channel)
        if sub is None or sub.state != SubscriptionState.UNSUBSCRIBED.value:
            continue
        if sub.method in LINK_METHODS and sub.last_event_id and now - sub.since < window:
            ids.append(sub.last_event_id)
    return ids


def _undo_token(deps: Deps, contact: Contact, event_ids: list[int]) -> str | None:
    if not event_ids:
        return None
    return links.token(deps, UndoLink(contact.public_id, tuple(event_ids)))


def withdraw_by_link(
    uow: UnitOfWork, deps: Deps, token: str, context: RequestContext, *,
    one_click: bool, every_channel: bool = False, channel: str | None = None,
) -> WithdrawalOutcome:
    """Withdraw the link's channel, another the person chose, or all; a repeat does nothing."""
    link = links.read(deps, UnsubscribeLink, token)
    channel = _chosen(link, channel)
    now = deps.clock.now()
    method = Method.ONE_CLICK if one_click else Method.UNSUBSCRIBE_PAGE
    with uow:
        session = uow.session
        contact = linked_contact(session, link.contact_id, lock=True)
        subs = ledger.subscriptions_of(session, contact, lock=True)
        channels = [channel, *(c for c in CHANNELS if c != channel)] if every_channel \
            else [channel]
        evidence = EvidenceData(ip=context.ip, user_agent=context.user_agent)
        events = _withdraw(session, contact, channels, method, Actor.person(), evidence, now=now,
                           subs=subs)
        outcome = WithdrawalOutcome(
            masked_address=_masked(contact, channel),
            channel=channel,
            language=contact.language,
            changed=tuple(e.channel for e in events),
            other_channels=_others(subs, channel),
            # A mail client's one-click shows no page: no undo link is signed for it.
            undo_token=None if one_click else _undo_token(deps, contact,
                                                          _undoable(subs, now)),
            active=_still_sending(contact, subs),
        )
        uow.commit()
    return outcome


def parse_reason(code: str | None, text: str | None) -> tuple[str, str | None]:
    """Validate an optional reason: one of REASONS, with free text of bounded length."""
    chosen = (code or "").strip() or "other"
    if chosen not in REASONS:
        raise InvalidInput([FieldProblem("reason", f"must be one of {', '.join(REASONS)}",
                                          "reason_unknown")])
    detail = " ".join((text or "").split()) or None
    if detail and len(detail) > MAX_REASON_TEXT:
        raise InvalidInput(
            [too_long("text", MAX_REASON_TEXT)]
        )
    return chosen, detail


def give_reason(
    uow: UnitOfWork, deps: Deps, token: str, code: str | None, text: str | None,
    channel: str | None = None,
) -> str:
    """Keep the person's reason with the evidence of their withdrawal; return their language.

    The reason may hold personal words, so it lives in Evidence (erasable), never in the event.
    "I never signed up" also flags the record for staff to check (a mistyped address).
    """
    link = links.read(deps, UnsubscribeLink, token)
    stopped = _chosen(link, channel)
    chosen, detail = parse_reason(code, text)
    now = deps.clock.now()
    with uow:
        session = uow.session
        contact = linked_contact(session, link.contact_id, lock=True)
        sub = ledger.subscription(session, contact, stopped, lock=True)
        if (sub is None or sub.state != SubscriptionState.UNSUBSCRIBED.value
                or sub.method not in LINK_METHODS or sub.last_event_id is None):
            # Only the person's own withdrawal through the link takes a reason.
            return contact.language
        note = f"reason: {chosen}" + (f"\n{detail}" if detail else "")
        evidence = session.scalars(
            select(Evidence).where(Evidence.event_id == sub.last_event_id)
        ).first()
        if evidence is None:
            session.add(Evidence(event_id=sub.last_event_id, contact_id=contact.id, note=note,
                                 recorded_at=now))
        else:
            evidence.note = note
        if chosen == NEVER_SIGNED_UP:
            contact.flagged_reason = DISPUTED_BY_LINK
            contact.updated_at = now
        language = contact.language
        uow.commit()
    return language


def view_undo(uow: UnitOfWork, deps: Deps, token: str) -> str:
    """Check an undo link and return the contact's language, changing nothing."""
    link = links.read(deps, UndoLink, token)
    with uow:
        return linked_contact(uow.session, link.contact_id).language


def undo_withdrawal(
    uow: UnitOfWork, deps: Deps, token: str, context: RequestContext
) -> UndoOutcome:
    """Subscribe again, as a new consent, the channels this undo token's withdrawals left.

    A channel whose state has moved on since (a complaint, staff action, another opt-in) is
    left as it is: the undo reverses exactly the withdrawal it was issued for.
    """
    link = links.read(deps, UndoLink, token)
    now = deps.clock.now()
    with uow:
        session = uow.session
        contact = linked_contact(session, link.contact_id, lock=True)
        restored = []
        for event_id in link.withdrawal_event_ids:
            event = session.get(ConsentEvent, event_id)
            if event is None or event.contact_id != contact.id \
                    or event.kind != EventKind.WITHDRAWN.value or event.method not in LINK_METHODS:
                continue
            sub = ledger.subscription(session, contact, event.channel, lock=True)
            if sub is None or sub.last_event_id != event.id:
                continue
            notice = ledger.NoticeRef(sub.notice_version, contact.language) \
                if sub.notice_version else None
            ledger.record(
                session, contact, event.channel, EventKind.GRANTED, Method.UNDO_LINK,
                Actor.person(), now=now, notice=notice,
                evidence=EvidenceData(ip=context.ip, user_agent=context.user_agent,
                                      note=f"undoes withdrawal event {event.id}"),
            )
            restored.append(event.channel)
        outcome = UndoOutcome(contact.language, tuple(restored))
        uow.commit()
    return outcome


def send_my_link(uow: UnitOfWork, deps: Deps, raw_email: str | None) -> bool:
    """Mail the unsubscribe link to an address on the register; silently do nothing otherwise.

    Whoever is sent anything at all gets it, an address whose own consent is withdrawn but whose
    text messages go on too: the link opens on the channel still sending, and its page stops
    every channel. The link goes only to the address on file, never elsewhere. The caller
    answers the same either way, so the page tells nobody who is on the list; the return value
    (whether a message was queued) is only for making both answers last as long.
    """
    address = parse_email(raw_email or "")
    now = deps.clock.now()
    with uow:
        session = uow.session
        contact = ledger.find_contact_by_email(session, address.key)
        if contact is None or contact.email is None or contact.email_undeliverable_at:
            return False
        subs = ledger.subscriptions_of(session, contact)
        sending = [ch for ch in CHANNELS if subs.get(ch) is not None
                   and subs[ch].state == SubscriptionState.SUBSCRIBED.value]
        if not sending:
            return False
        lang = contact.language
        org = deps.practice.organization
        url = links.unsubscribe_url(deps, contact.public_id, sending[0])
        window = int(now.timestamp()) // LINK_MAIL_WINDOW_SECONDS
        letters.queue_to_contact(
            session, deps, contact,
            # One message per window, however many times the form is sent.
            key=f"unsubscribe-link:{contact.public_id}:{window}",
            subject=t(lang, "mail.link.subject", org=org),
            paragraphs=t(lang, "mail.link.body", org=org, link=url).split("\n\n"),
            now=now,
            action=(t(lang, "mail.link.button"), url), unsubscribe_channel=sending[0],
        )
        uow.commit()
    return True


@dataclass(frozen=True)
class WithdrawalRequest:
    """A withdrawal another system asks for on the person's behalf."""

    email: str | None
    contact_id: str | None
    channels: tuple[str, ...]
    reason: str | None


def parse_withdrawal_request(raw: object) -> WithdrawalRequest:
    """Validate {email | contact_id, channels?, reason?}, naming every field at fault."""
    problems: list[FieldProblem] = []
    if not isinstance(raw, dict):
        raise InvalidInput([FieldProblem("body", "must be a JSON object")])
    email, contact_id = raw.get("email"), raw.get("contact_id")
    if email is not None and not isinstance(email, str):
        problems.append(FieldProblem("email", "must be text"))
    if contact_id is not None and not isinstance(contact_id, str):
        problems.append(FieldProblem("contact_id", "must be text"))
    if not email and not contact_id:
        problems.append(FieldProblem("email", "is required unless contact_id is given"))
    elif email and contact_id:
        problems.append(FieldProblem("contact_id", "give either email or contact_id, not both"))
    if isinstance(email, str) and email:
        try:
            parse_email(email)
        except InvalidInput as exc:
            problems.extend(exc.problems)
    # Left out, every channel is withdrawn.
    read = read_channels(raw.get("channels", list(CHANNELS)))
    if read.problem is not None:
        problems.append(FieldProblem("channels", "must be a list of email and/or sms"))
    channels = in_channel_order(read.channels)
    reason = raw.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_TEXT):
        problems.append(FieldProblem("reason", f"must be text of at most {MAX_REASON_TEXT} "
                                               "characters"))
    if problems:
        raise InvalidInput(problems)
    return WithdrawalRequest(
        email=email if isinstance(email, str) and email else None,
        contact_id=contact_id if isinstance(contact_id, str) and contact_id else None,
        channels=channels,
        reason=(reason.strip() or None) if isinstance(reason, str) else None,
    )


def withdraw_on_request(
    uow: UnitOfWork, deps: Deps, request: WithdrawalRequest, actor: Actor, *,
    ip: str | None,
) -> tuple[str, ...]:
    """Withdraw the named channels for whoever holds the address or id, with actor recorded.

    Returns the channels asked for whether or not anybody matched, so the answer reveals nothing.
    """
    now = deps.clock.now()
    with uow:
        session = uow.session
        contact: Contact | None
        if request.email:
            contact = ledger.find_contact_by_email(session, parse_email(request.email).key,
                                                   lock=True)
        else:
            contact = ledger.find_contact(session, request.contact_id or "", lock=True)
            if contact is not None and contact.erased_at is not None:
                contact = None
        changed: list[str] = []
        if contact is not None:
            evidence = EvidenceData(source_ip=ip, note=request.reason)
            events = _withdraw(session, contact, request.channels, Method.STAFF_ON_REQUEST,
                               actor, evidence, now=now, source="api")
            changed = [e.channel for e in events]
        audit.append(
            session, actor, "withdrawal.request",
            contact.public_id if contact is not None else None, ip,
            {"channels": list(request.channels), "changed": changed,
             "matched": contact is not None},
            now=now,
        )
        uow.commit()
    return request.channels

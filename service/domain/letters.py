"""The messages the service sends to people, and the list headers they carry.

Subscription mail (the welcome, and any newsletter-type message queued with list_mail) carries
List-Id; transactional mail (the confirmation request, the consent receipt, the unsubscribe
link sent on request) does not. Every message to a contact on the register carries the
unsubscribe headers.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Any

from sqlalchemy.orm import Session

from service.domain import links, mail, receipts, rights
from service.domain.channels import Channel
from service.domain.dependencies import Deps
from service.domain.i18n import t
from service.domain.models import Contact, SubscriptionState
from service.domain.ports import MailUndeliverable

LIST_LABEL = "newsletter"
LIVE_STATES = (SubscriptionState.SUBSCRIBED.value, SubscriptionState.PENDING.value)


def unsubscribe_headers(deps: Deps, url: str) -> dict[str, str]:
    """Return List-Unsubscribe (RFC 2369) and, over https, List-Unsubscribe-Post (RFC 8058)."""
    targets = [f"<{url}>"]
    if deps.practice.unsubscribe_mailto:
        targets.append(f"<mailto:{deps.practice.unsubscribe_mailto}?subject=unsubscribe>")
    headers = {"List-Unsubscribe": ", ".join(targets)}
    if deps.practice.one_click_allowed:
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return headers


def list_id_header(deps: Deps) -> dict[str, str]:
    """Return List-Id (RFC 2919) for subscription mail.

    The form is `<organization> newsletter <newsletter.<sender's domain>>`, for example
    `Kiropraktikko Testi newsletter <newsletter.klinikka.example.fi>`. The id between the
    brackets is what mail readers group and rate the list's mail by, so it must not change for
    the life of the list: it is made of a fixed label and the domain of the sender address (in
    its ASCII form, lower-cased), the domain the organisation owns and its mail is signed for,
    rather than of the public URL, which names wherever the service happens to be hosted. A
    sender without a domain (noreply@localhost) gives RFC 2919's unmanaged namespace,
    `newsletter.localhost`. The phrase before it is only a description and may change.
    """
    list_id = f"{LIST_LABEL}.{mail.sender_domain(deps.practice.mail_from).lower()}"
    return {"List-Id": f"{mail.phrase(f'{deps.practice.organization} newsletter')} <{list_id}>"}


CONFIRMATION = "confirmation"


def _greeting_name(name: str | None) -> str:
    return f" {name}" if name else ""


# A sender address nobody reads is no way to reach the practice.
_NO_REPLY = ("noreply", "no-reply", "donotreply", "do-not-reply")


def _contact_address(deps: Deps) -> str | None:
    sender = deps.practice.mail_from
    if sender.rpartition("@")[0].lower() in _NO_REPLY:
        return None
    return sender


def _footer(deps: Deps, lang: str) -> list[str]:
    """Say who sends the message and how to reach them, in words the reader can use."""
    practice = deps.practice
    lines = [practice.organization]
    if practice.organization_address:
        lines.append(practice.organization_address)
    reach = _contact_address(deps)
    if reach:
        lines.append(t(lang, "mail.contact_line", email=reach))
    return lines


def _footer_links(deps: Deps, lang: str, unsubscribe: str | None) -> tuple[mail.FooterLink, ...]:
    links_out = []
    if unsubscribe:
        links_out.append(mail.FooterLink(t(lang, "mail.unsubscribe_intro"),
                                         t(lang, "mail.unsubscribe_label"), unsubscribe))
    if deps.practice.privacy_url:
        links_out.append(mail.FooterLink("", t(lang, "mail.privacy_label"),
                                         deps.practice.privacy_url))
    return tuple(links_out)


def queue_to_contact(
    session: Session,
    deps: Deps,
    contact: Contact,
    *,
    key: str,
    subject: str,
    paragraphs: list[str],
    now: datetime,
    action: tuple[str, str] | None = None,
    with_unsubscribe: bool = True,
    unsubscribe_channel: str = Channel.EMAIL,
    list_mail: bool = False,
    attachments: tuple[mail.Attachment, ...] = (),
) -> str:
    """Queue a message to a contact; unless told otherwise it carries the unsubscribe link.

    list_mail marks subscription mail (the welcome, a newsletter), which carries List-Id.
    unsubscribe_channel is the channel the link opens on (its page shows every channel).
    """
    if contact.email is None:
        raise ValueError("contact has no email address")
    url = links.unsubscribe_url(deps, contact.public_id, unsubscribe_channel) \
        if with_unsubscribe else None
    headers = unsubscribe_headers(deps, url) if url else {}
    if list_mail:
        headers.update(list_id_header(deps))
    letter = mail.Letter(
        to=contact.email,
        to_name=contact.name,
        language=contact.language,
        subject=subject,
        paragraphs=paragraphs,
        action_label=action[0] if action else None,
        action_url=action[1] if action else None,
        footer=_footer(deps, contact.language),
        footer_links=_footer_links(deps, contact.language, url),
        headers=headers,
        attachments=attachments,
    )
    return mail.queue(
        session,
        letter,
        key=key,
        sender=deps.practice.mail_from,
        sender_name=deps.practice.organization,
        contact_id=contact.id,
        now=now,
    )


def queue_confirmation(
    session: Session, deps: Deps, contact: Contact, confirm_url: str, *, key: str, now: datetime
) -> str:
    """Queue the double opt-in message with its confirmation link, to be rendered when sent.

    Every website opt-in queues one, so the request stores only what the message is made of.
    """
    if contact.email is None:
        raise ValueError("contact has no email address")
    return mail.queue_unrendered(
        session,
        CONFIRMATION,
        # Nothing the requester typed but the address: whoever asks need not own it, and a
        # name would let a stranger put words (and links) into mail the practice signs.
        {"language": contact.language, "confirm_url": confirm_url},
        key=key,
        sender=deps.practice.mail_from,
        to=contact.email,
        contact_id=contact.id,
        now=now,
    )


def _confirmation(deps: Deps, to: str, details: Mapping[str, Any]) -> mail.Letter:
    lang = str(details["language"])
    org = deps.practice.organization
    confirm_url = str(details["confirm_url"])
    # No greeting by name and no display name, even for mail queued before this rule.
    body = t(lang, "mail.confirm.body", name="", org=org, address=to, link=confirm_url)
    return mail.Letter(
        to=to,
        to_name=None,
        language=lang,
        subject=t(lang, "mail.confirm.subject", org=org),
        paragraphs=body.split("\n\n"),
        action_label=t(lang, "mail.confirm.button"),
        action_url=confirm_url,
        footer=_footer(deps, lang),
        # Not on the register yet: there is nothing to unsubscribe from.
        footer_links=_footer_links(deps, lang, None),
    )


COMPOSERS: dict[str, Callable[[Deps, str, Mapping[str, Any]], mail.Letter]] = {
    CONFIRMATION: _confirmation,
}


def message_bytes(deps: Deps, payload: Mapping[str, Any], *, date: datetime) -> bytes:
    """Return the MIME message a queued mail stands for, rendering it if it was queued unrendered.

    date is when the message was queued, so a retry renders the very same message.
    """
    if "raw" in payload:
        return str(payload["raw"]).encode("utf-8")
    [to] = payload["recipients"]
    letter = COMPOSERS[payload["letter"]](deps, to, payload["details"])
    return mail.render(letter, sender=payload["sender"], sender_name=deps.practice.organization,
                       message_id=payload["message_id"], date=date)


@dataclass(frozen=True)
class Outgoing:
    """A queued mail ready to hand to a mailer: addresses as mail carries them, and the bytes."""

    message_id: str
    sender: str
    recipients: list[str]
    raw: bytes


def outgoing(deps: Deps, payload: Mapping[str, Any], *, date: datetime) -> Outgoing:
    """Return what a queued mail sends; raise MailUndeliverable when it can never be built.

    Rendering reads nothing but the payload and the settings, so a message that cannot be built
    now never can: it is parked with the exception's name and place (never its text, which may
    quote personal data) for a developer, instead of being retried for days.
    """
    try:
        raw = message_bytes(deps, payload, date=date)
        sender = mail.envelope_address(str(payload["sender"]))
        recipients = [mail.envelope_address(str(r)) for r in payload["recipients"]]
    except MailUndeliverable:
        raise
    except Exception as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        where = "".join(f" in {f.name} at {PurePath(f.filename).name}:{f.lineno}"
                        for f in frames[-1:])
        raise MailUndeliverable(
            f"the message cannot be built ({type(exc).__name__}{where}); "
            "a developer must look at it"
        ) from None
    return Outgoing(str(payload["message_id"]), sender, recipients, raw)


def consent_receipt(session: Session, deps: Deps, contact: Contact, *,
                    now: datetime) -> mail.Attachment:
    """Return the person's consent receipt as of now (ISO/IEC TS 27560 JSON-LD) to attach.

    Mail is rendered when queued, so every attempt sends this very receipt.
    """
    return _receipt_of(rights.held_record(session, contact), deps, now=now)


def _receipt_of(record: Mapping[str, Any], deps: Deps, *, now: datetime) -> mail.Attachment:
    document = receipts.consent_receipt(record, receipts.controller_of(deps.practice),
                                        created=now)
    return mail.Attachment(receipts.FILENAME, receipts.MEDIA_TYPE, receipts.as_bytes(document))


def _sms_chosen(record: Mapping[str, Any]) -> bool:
    return any(sub["channel"] == Channel.SMS and sub["state"] in LIVE_STATES
               for sub in record["subscriptions"])


def queue_welcome(session: Session, deps: Deps, contact: Contact, *, key: str,
                  now: datetime) -> str:
    """Queue the welcome message sent once a subscription starts, with the consent receipt."""
    lang = contact.language
    org = deps.practice.organization
    paragraphs = t(lang, "mail.welcome.body", name=_greeting_name(contact.name), org=org,
                   address=contact.email).split("\n\n")
    # One read of the record serves the receipt and the SMS line.
    record = rights.held_record(session, contact)
    if contact.phone and _sms_chosen(record):
        # Said before the last paragraph, which tells how to leave.
        paragraphs.insert(-1, t(lang, "mail.welcome.sms", phone=contact.phone))
    return queue_to_contact(
        session, deps, contact, key=key, subject=t(lang, "mail.welcome.subject", org=org),
        paragraphs=paragraphs, now=now, list_mail=True,
        attachments=(_receipt_of(record, deps, now=now),),
    )

"""The messages the service sends to people, and the unsubscribe headers every one carries."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from service.domain import mail
from service.domain.context import Deps
from service.domain.i18n import t
from service.domain.models import Channel, Contact
from service.domain.tokens import Purpose


def unsubscribe_url(deps: Deps, contact: Contact, channel: str = Channel.EMAIL) -> str:
    """Return the contact's never-expiring unsubscribe link for the channel."""
    return unsubscribe_link(deps, contact.public_id, channel)


def unsubscribe_link(deps: Deps, public_id: str, channel: str = Channel.EMAIL) -> str:
    """Return the never-expiring unsubscribe link of a contact known by public id."""
    token = deps.tokens.sign(Purpose.UNSUBSCRIBE, {"c": public_id, "ch": str(channel)})
    return deps.link(Purpose.UNSUBSCRIBE, token)


def unsubscribe_headers(deps: Deps, url: str) -> dict[str, str]:
    """Return List-Unsubscribe (RFC 2369) and, over https, List-Unsubscribe-Post (RFC 8058)."""
    targets = [f"<{url}>"]
    if deps.practice.unsubscribe_mailto:
        targets.append(f"<mailto:{deps.practice.unsubscribe_mailto}?subject=unsubscribe>")
    headers = {"List-Unsubscribe": ", ".join(targets)}
    if deps.practice.one_click_allowed:
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return headers


CONFIRMATION = "confirmation"


def _greeting_name(name: str | None) -> str:
    return f" {name}" if name else ""


def _footer(deps: Deps, lang: str, unsubscribe: str | None) -> list[str]:
    lines = [deps.practice.organization]
    if unsubscribe:
        lines.append(t(lang, "mail.unsubscribe_line", link=unsubscribe))
    if deps.practice.privacy_url:
        lines.append(t(lang, "mail.privacy_line", link=deps.practice.privacy_url))
    return lines


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
) -> str:
    """Queue a message to a contact; unless told otherwise it carries the unsubscribe link."""
    if contact.email is None:
        raise ValueError("contact has no email address")
    url = unsubscribe_url(deps, contact) if with_unsubscribe else None
    letter = mail.Letter(
        to=contact.email,
        to_name=contact.name,
        language=contact.language,
        subject=subject,
        paragraphs=paragraphs,
        action_label=action[0] if action else None,
        action_url=action[1] if action else None,
        footer=_footer(deps, contact.language, url),
        headers=unsubscribe_headers(deps, url) if url else {},
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
        {"to_name": contact.name, "language": contact.language, "confirm_url": confirm_url},
        key=key,
        sender=deps.practice.mail_from,
        to=contact.email,
        contact_id=contact.id,
        now=now,
    )


def _confirmation(deps: Deps, to: str, details: Mapping[str, Any]) -> mail.Letter:
    lang = str(details["language"])
    org = deps.practice.organization
    name = details.get("to_name")
    confirm_url = str(details["confirm_url"])
    body = t(lang, "mail.confirm.body", name=_greeting_name(name), org=org, address=to,
             link=confirm_url)
    return mail.Letter(
        to=to,
        to_name=name,
        language=lang,
        subject=t(lang, "mail.confirm.subject", org=org),
        paragraphs=body.split("\n\n"),
        action_label=t(lang, "mail.confirm.button"),
        action_url=confirm_url,
        # Not on the register yet: there is nothing to unsubscribe from.
        footer=_footer(deps, lang, None),
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


def queue_welcome(session: Session, deps: Deps, contact: Contact, *, key: str,
                  now: datetime) -> str:
    """Queue the welcome message sent once a subscription starts."""
    lang = contact.language
    org = deps.practice.organization
    body = t(lang, "mail.welcome.body", name=_greeting_name(contact.name), org=org,
             address=contact.email)
    return queue_to_contact(
        session, deps, contact, key=key, subject=t(lang, "mail.welcome.subject", org=org),
        paragraphs=body.split("\n\n"), now=now,
    )

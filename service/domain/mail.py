"""Emails to people: composed and queued in the transaction that causes them.

A message is queued either rendered (the MIME bytes in the payload) or, where the request
should not pay for rendering, as the few facts it is made of ("letter" and "details"); the
worker then renders it when it sends it, from the payload alone, with the Message-ID and date
fixed at queue time, so every attempt sends the same message.

Addresses are stored in their normal form (normalize.parse_email) and written as mail carries
them (envelope_address): an internationalised domain in its ASCII (xn--) form, so only a local
part with letters such as ö makes a message need SMTPUTF8 (RFC 6531); such a message is
rendered with UTF-8 headers (RFC 6532), and the mailer sends it only to a server that offers
SMTPUTF8.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from service.domain import outbox
from service.domain.normalize import InvalidInput, ascii_domain, sending_form
from service.domain.ports import MailUndeliverable

MAIL_KIND = "mail"

# Headers set with set_raw are written as given; every other header is folded as usual.
VERBATIM_RAW = SMTP.clone(refold_source="none")
# The same for a message to or from an address with letters such as ö before the @ (RFC 6531):
# its headers are UTF-8 (RFC 6532), and it may only go to a server that offers SMTPUTF8.
VERBATIM_RAW_UTF8 = SMTPUTF8.clone(refold_source="none")

# RFC 5322 atext and spaces: a phrase of these needs no quotes.
_PLAIN_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*")


class Attachment(NamedTuple):
    """A file that goes with a message: its name, media type and bytes."""

    filename: str
    media_type: str
    content: bytes


class FooterLink(NamedTuple):
    """A link at a message's foot: a short labelled link in HTML, the whole URL in the text."""

    lead: str
    label: str
    url: str


@dataclass(frozen=True)
class Letter:
    """One message to one person, before rendering."""

    to: str
    to_name: str | None
    language: str
    subject: str
    paragraphs: list[str]
    action_label: str | None = None
    action_url: str | None = None
    footer: list[str] = field(default_factory=list)
    footer_links: tuple[FooterLink, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()


def message_id_for(key: str, sender: str) -> str:
    """Return a Message-ID that is the same every time the same message is rendered."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{sender_domain(sender)}>"


def sender_domain(sender: str) -> str:
    """Return the sender's domain in its ASCII form ("localhost" when it has none)."""
    try:
        domain = ascii_domain(sender.rpartition("@")[2])
    except InvalidInput:
        domain = ""
    return domain or "localhost"


def envelope_address(address: str) -> str:
    """Return an address as mail carries it (see normalize.sending_form), or say it never can."""
    try:
        return sending_form(address)
    except InvalidInput:
        raise MailUndeliverable(
            "an address of this message has a domain that is not valid; correct the address"
        ) from None


def needs_smtputf8(addresses: Iterable[str]) -> bool:
    """Tell whether mail between these addresses (as mail carries them) needs SMTPUTF8."""
    return not all(address.isascii() for address in addresses)


def phrase(text: str) -> str:
    """Return text as an RFC 5322 phrase, ASCII: as it is, quoted, or as RFC 2047 words."""
    text = " ".join(text.split())
    if not text.isascii():
        return Header(text, "utf-8").encode()
    if _PLAIN_PHRASE.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mailbox(name: str, address: str) -> Address:
    local, _, domain = address.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def _html(letter: Letter) -> str:
    esc = html.escape
    parts = [
        f'<!doctype html><html lang="{esc(letter.language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(letter.subject)}</title></head>"
        '<body style="font-family:system-ui,sans-serif;line-height:1.5;color:#1b1b1b;'
        'max-width:36em;margin:0 auto;padding:1em">'
    ]
    for paragraph in letter.paragraphs:
        if letter.action_url and paragraph.strip() == letter.action_url:
            parts.append(
                f'<p><a href="{esc(letter.action_url)}" style="display:inline-block;'
                "background:#1d5c4d;color:#fff;padding:.7em 1.2em;border-radius:.3em;"
                f'text-decoration:none">{esc(letter.action_label or letter.action_url)}</a></p>'
                f'<p style="font-size:.85em;color:#555;word-break:break-all">'
                f"{esc(letter.action_url)}</p>"
            )
        else:
            parts.append("<p>" + esc(paragraph).replace("\n", "<br>") + "</p>")
    if letter.footer or letter.footer_links:
        parts.append('<hr><p style="font-size:.85em;color:#555">')
        for line in letter.footer:
            parts.append(_linkify(line) + "<br>")
        for link in letter.footer_links:
            lead = f"{esc(link.lead)} " if link.lead else ""
            parts.append(f'{lead}<a href="{esc(link.url)}">{esc(link.label)}</a><br>')
        parts.append("</p>")
    parts.append("</body></html>")
    return "".join(parts)


def _text_link(link: FooterLink) -> str:
    # On a line of its own in angle brackets (RFC 3986, appendix C): a phone wraps it whole and
    # mail readers take the brackets as its ends, not a part of it.
    return f"{link.lead} {link.label}:".lstrip() + f"\n<{link.url}>"


def _linkify(line: str) -> str:
    words = []
    for word in line.split(" "):
        if word.startswith(("https://", "http://")):
            words.append(f'<a href="{html.escape(word)}">{html.escape(word)}</a>')
        else:
            words.append(html.escape(word))
    return " ".join(words)


def render(letter: Letter, *, sender: str, sender_name: str, message_id: str,
           date: datetime) -> bytes:
    """Render the letter as a MIME message with text and HTML parts.

    Addresses are written as mail carries them (envelope_address); when one has letters such
    as ö before the @, the message is an RFC 6532 one with UTF-8 headers. Raises
    MailUndeliverable for an address that mail can never carry.
    """
    from_address, to_address = envelope_address(sender), envelope_address(letter.to)
    international = needs_smtputf8((from_address, to_address))
    message = EmailMessage(policy=VERBATIM_RAW_UTF8 if international else VERBATIM_RAW)
    message["From"] = _mailbox(sender_name, from_address)
    message["To"] = _mailbox(letter.to_name or "", to_address)
    message["Subject"] = letter.subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    for name, value in letter.headers.items():
        if value.isascii():
            # List headers are URL lists a mail client must read verbatim (RFC 2369): left to
            # the email package, a long one becomes RFC 2047 encoded-words that no client
            # reads as a URL. Fold only between the list's items.
            message.set_raw(name, value.replace(">, <", ">,\n <"))
        else:
            message[name] = value
    text = "\n\n".join(letter.paragraphs)
    if letter.footer or letter.footer_links:
        text += "\n\n-- \n" + "\n".join([*letter.footer, *map(_text_link, letter.footer_links)])
    message.set_content(text + "\n")
    message.add_alternative(_html(letter), subtype="html")
    for attachment in letter.attachments:
        maintype, _, subtype = attachment.media_type.partition("/")
        message.add_attachment(attachment.content, maintype=maintype, subtype=subtype,
                               filename=attachment.filename)
    # Only now: set_content drops every Content-* header the message already has, and
    # add_alternative moves them into the first part; this one is about the whole message.
    message["Content-Language"] = letter.language
    return message.as_bytes()


def queue(
    session: Session,
    letter: Letter,
    *,
    key: str,
    sender: str,
    sender_name: str,
    contact_id: int | None,
    now: datetime,
) -> str:
    """Render the letter and put it in the outbox under key; return its Message-ID."""
    message_id = message_id_for(key, sender)
    raw = render(letter, sender=sender, sender_name=sender_name, message_id=message_id, date=now)
    outbox.enqueue(
        session,
        MAIL_KIND,
        f"mail:{key}",
        {
            "message_id": message_id,
            "sender": sender,
            "recipients": [letter.to],
            "raw": raw.decode("utf-8"),
        },
        now=now,
        contact_id=contact_id,
    )
    return message_id


def queue_unrendered(
    session: Session,
    letter: str,
    details: Mapping[str, Any],
    *,
    key: str,
    sender: str,
    to: str,
    contact_id: int | None,
    now: datetime,
) -> str:
    """Put a letter in the outbox as its kind and details, rendered when sent; return its id."""
    message_id = message_id_for(key, sender)
    outbox.enqueue(
        session,
        MAIL_KIND,
        f"mail:{key}",
        {
            "message_id": message_id,
            "sender": sender,
            "recipients": [to],
            "letter": letter,
            "details": dict(details),
        },
        now=now,
        contact_id=contact_id,
    )
    return message_id

"""Emails to people: composed and queued in the transaction that causes them.

A message is queued either rendered (the MIME bytes in the payload) or, where the request
should not pay for rendering, as the few facts it is made of ("letter" and "details"); the
worker then renders it when it sends it, from the payload alone, with the Message-ID and date
fixed at queue time, so every attempt sends the same message.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from typing import Any

from sqlalchemy.orm import Session

from service.domain import outbox

MAIL_KIND = "mail"

# Headers set with set_raw are written as given; every other header is folded as usual.
VERBATIM_RAW = SMTP.clone(refold_source="none")


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
    headers: Mapping[str, str] = field(default_factory=dict)


def message_id_for(key: str, sender: str) -> str:
    """Return a Message-ID that is the same every time the same message is rendered."""
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


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
    if letter.footer:
        parts.append('<hr><p style="font-size:.85em;color:#555">')
        for line in letter.footer:
            parts.append(_linkify(line) + "<br>")
        parts.append("</p>")
    parts.append("</body></html>")
    return "".join(parts)


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
    """Render the letter as a MIME message with text and HTML parts."""
    message = EmailMessage(policy=VERBATIM_RAW)
    message["From"] = formataddr((sender_name, sender))
    message["To"] = formataddr((letter.to_name or "", letter.to))
    message["Subject"] = letter.subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["Content-Language"] = letter.language
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
    if letter.footer:
        text += "\n\n-- \n" + "\n".join(letter.footer)
    message.set_content(text + "\n")
    message.add_alternative(_html(letter), subtype="html")
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

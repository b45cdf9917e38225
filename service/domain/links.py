"""Personal links in messages: what each kind carries, how it is signed and read, its address.

A link's token is signed by the TokenService with one salt per purpose (tokens.Purpose) and
carries opaque ids only. On the wire the fields have short names, kept so that every link ever
sent still works:

- unsubscribe  {"c": contact, "ch": channel}                     never expires
- confirm      {"c": contact, "r": requested event, "ch": [channels]}   7 days
- resubscribe  {"c": contact, "e": [withdrawal events]}   (undo)  1 hour
- dispute      {"c": contact, "e": [receipt's consent events]}   never expires

Only this module knows those names; everyone else reads the typed links below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, Protocol, Self, TypeVar

from sqlalchemy.orm import Session

from service.domain import ledger
from service.domain.channels import CHANNELS, Channel
from service.domain.dependencies import Deps
from service.domain.models import Contact
from service.domain.tokens import LIFETIMES, ExpiredToken, InvalidToken, Purpose

EXPIRED = "expired"
INVALID = "invalid"


class LinkNotUsable(Exception):
    """A link that is invalid, expired or no longer applies; nothing was changed.

    reason is EXPIRED for a genuine link past its lifetime, INVALID for anything else (forged,
    tampered, of another purpose, naming nobody); language is the contact's when known.
    """

    def __init__(self, reason: str, language: str | None = None) -> None:
        """Keep why (invalid or expired) and the contact's language when known."""
        super().__init__(reason)
        self.reason = reason
        self.language = language


class PersonalLink(Protocol):
    """A kind of link: its purpose (the token's salt) and its fields to and from the wire."""

    PURPOSE: ClassVar[Purpose]

    def wire(self) -> dict[str, Any]:
        """Return the signed payload."""
        ...

    @classmethod
    def from_wire(cls, payload: Mapping[str, Any]) -> Self:
        """Return the link a verified payload describes, or raise LinkNotUsable."""
        ...


def _contact_id(payload: Mapping[str, Any]) -> str:
    contact_id = payload.get("c")
    if not isinstance(contact_id, str):
        raise LinkNotUsable(INVALID)
    return contact_id


def _event_ids(payload: Mapping[str, Any]) -> tuple[int, ...]:
    event_ids = payload.get("e")
    if not isinstance(event_ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in event_ids
    ):
        raise LinkNotUsable(INVALID)
    return tuple(event_ids)


@dataclass(frozen=True)
class UnsubscribeLink:
    """Withdraw one channel of one contact (and see or download what is held)."""

    PURPOSE: ClassVar[Purpose] = Purpose.UNSUBSCRIBE
    contact_id: str
    channel: str

    def wire(self) -> dict[str, Any]:
        """Return the signed payload."""
        return {"c": self.contact_id, "ch": self.channel}

    @classmethod
    def from_wire(cls, payload: Mapping[str, Any]) -> UnsubscribeLink:
        """Return the link a verified payload describes, or raise LinkNotUsable."""
        channel = payload.get("ch")
        if channel not in CHANNELS:
            raise LinkNotUsable(INVALID)
        return cls(_contact_id(payload), str(channel))


@dataclass(frozen=True)
class ConfirmLink:
    """Confirm a double opt-in: the channels still pending, and the opt-in being confirmed."""

    PURPOSE: ClassVar[Purpose] = Purpose.CONFIRM
    contact_id: str
    channels: tuple[str, ...]
    # The opt-in's first consent event: its evidence holds the name and phone asked with.
    requested_event_id: int | None

    def wire(self) -> dict[str, Any]:
        """Return the signed payload."""
        return {"c": self.contact_id, "r": self.requested_event_id, "ch": list(self.channels)}

    @classmethod
    def from_wire(cls, payload: Mapping[str, Any]) -> ConfirmLink:
        """Return the link a verified payload describes, or raise LinkNotUsable."""
        contact_id, channels, request = _contact_id(payload), payload.get("ch"), payload.get("r")
        if not isinstance(channels, list):
            raise LinkNotUsable(INVALID)
        requested = request if isinstance(request, int) and not isinstance(request, bool) \
            else None
        return cls(contact_id, tuple(c for c in channels if c in CHANNELS), requested)


@dataclass(frozen=True)
class UndoLink:
    """Undo the person's own withdrawals through an unsubscribe link ("I changed my mind")."""

    PURPOSE: ClassVar[Purpose] = Purpose.RESUBSCRIBE
    contact_id: str
    withdrawal_event_ids: tuple[int, ...]

    def wire(self) -> dict[str, Any]:
        """Return the signed payload."""
        return {"c": self.contact_id, "e": list(self.withdrawal_event_ids)}

    @classmethod
    def from_wire(cls, payload: Mapping[str, Any]) -> UndoLink:
        """Return the link a verified payload describes, or raise LinkNotUsable."""
        return cls(_contact_id(payload), _event_ids(payload))


@dataclass(frozen=True)
class DisputeLink:
    """Say "I never agreed" to the consents a verbal-consent receipt reports."""

    PURPOSE: ClassVar[Purpose] = Purpose.DISPUTE
    contact_id: str
    consent_event_ids: tuple[int, ...]

    def wire(self) -> dict[str, Any]:
        """Return the signed payload."""
        return {"c": self.contact_id, "e": list(self.consent_event_ids)}

    @classmethod
    def from_wire(cls, payload: Mapping[str, Any]) -> DisputeLink:
        """Return the link a verified payload describes, or raise LinkNotUsable."""
        return cls(_contact_id(payload), _event_ids(payload))


LinkT = TypeVar("LinkT", bound=PersonalLink)

# How long an undo link works: a person's own withdrawal may be undone only this long after.
UNDO_WINDOW: timedelta = LIFETIMES[Purpose.RESUBSCRIBE]


def token(deps: Deps, link: PersonalLink) -> str:
    """Return the signed token of a link."""
    return deps.tokens.sign(link.PURPOSE, link.wire())


def url(deps: Deps, link: PersonalLink) -> str:
    """Return the public address of a link, as messages and the register carry it."""
    return f"{deps.practice.public_url}/{link.PURPOSE.value}/{token(deps, link)}"


def unsubscribe_url(deps: Deps, contact_id: str, channel: str = Channel.EMAIL) -> str:
    """Return the never-expiring unsubscribe link of a contact (by public id) for a channel."""
    return url(deps, UnsubscribeLink(contact_id, str(channel)))


def read(deps: Deps, kind: type[LinkT], link_token: str) -> LinkT:
    """Return the link a token of this kind stands for, or raise LinkNotUsable."""
    try:
        payload = deps.tokens.verify(kind.PURPOSE, link_token)
    except ExpiredToken:
        raise LinkNotUsable(EXPIRED) from None
    except InvalidToken:
        raise LinkNotUsable(INVALID) from None
    return kind.from_wire(payload)


def linked_contact(session: Session, contact_id: str, *, lock: bool = False) -> Contact:
    """Return the contact a link names; an erased one is as unknown as a forged link."""
    contact = ledger.find_contact(session, contact_id, lock=lock)
    if contact is None or contact.erased_at is not None:
        raise LinkNotUsable(INVALID)
    return contact

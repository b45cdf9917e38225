"""The register: who may be contacted now, per channel, read in stable keyset pages.

The register API and the register mirror read the same query, so what a newsletter tool
downloads and what the Sheet shows never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, true
from sqlalchemy.orm import Session, aliased

from service.domain import letters, links
from service.domain.channels import CHANNELS, Channel
from service.domain.dependencies import Deps
from service.domain.models import Contact, Subscription, SubscriptionState
from service.domain.normalize import FieldProblem, InvalidInput, whole_number
from service.domain.uow import UnitOfWork

DEFAULT_BATCH = 500
MAX_PAGE = 1000


@dataclass(frozen=True)
class ChannelState:
    """One channel's consent as the ledger holds it now."""

    state: str | None
    since: datetime | None
    method: str | None
    witness: str | None
    notice_version: int | None

    @property
    def subscribed(self) -> bool:
        """Tell whether the person agreed to this channel and has not withdrawn."""
        return self.state == SubscriptionState.SUBSCRIBED.value


NO_CONSENT = ChannelState(None, None, None, None, None)


@dataclass(frozen=True)
class RegisterEntry:
    """One contact on the register, with both channels' consent."""

    id: int
    public_id: str
    name: str | None
    email: str | None
    phone: str | None
    language: str
    email_deliverable: bool
    email_consent: ChannelState
    sms_consent: ChannelState

    def may_contact(self, channel: str) -> bool:
        """Tell whether the person may be contacted on the channel now."""
        if channel == Channel.EMAIL.value:
            return self.email_consent.subscribed and self.email is not None \
                and self.email_deliverable
        if channel == Channel.SMS.value:
            return self.sms_consent.subscribed and self.phone is not None
        return False


def _state(row: Sequence[Any]) -> ChannelState:
    """Return one channel's consent from its five columns (all None: no subscription)."""
    state, since, method, witness, notice_version = row
    if state is None:
        return NO_CONSENT
    return ChannelState(state, since, method, witness, notice_version)


def _channel_columns(sub: Any) -> tuple[Any, ...]:
    return (sub.state, sub.since, sub.method, sub.witness, sub.notice_version)


def read_batch(
    session: Session, *, after: int = 0, limit: int = DEFAULT_BATCH, channel: str | None = None,
    only: Collection[int] | None = None,
) -> list[RegisterEntry]:
    """Return up to limit register entries with contact id above after, in id order.

    With channel given, only contacts who may be contacted on that channel are returned;
    with only given, only those of these contact ids that are on the register.
    Keyset paging by id keeps pages stable while new opt-ins (higher ids) arrive.
    Plain columns, not ORM objects: a full CSV download or mirror pass reads every row, and
    building (and tracking) three mapped objects per row would cost more than the query.
    """
    email_sub = aliased(Subscription)
    sms_sub = aliased(Subscription)
    on_email = and_(
        email_sub.state == SubscriptionState.SUBSCRIBED.value,
        Contact.email.is_not(None),
        Contact.email_undeliverable_at.is_(None),
    )
    on_sms = and_(sms_sub.state == SubscriptionState.SUBSCRIBED.value, Contact.phone.is_not(None))
    wanted = {Channel.EMAIL.value: on_email, Channel.SMS.value: on_sms}.get(
        channel or "", or_(on_email, on_sms)
    )
    query = (
        select(Contact.id, Contact.public_id, Contact.name, Contact.email, Contact.phone,
               Contact.language, Contact.email_undeliverable_at,
               *_channel_columns(email_sub), *_channel_columns(sms_sub))
        .outerjoin(email_sub, and_(email_sub.contact_id == Contact.id,
                                   email_sub.channel == Channel.EMAIL.value))
        .outerjoin(sms_sub, and_(sms_sub.contact_id == Contact.id,
                                 sms_sub.channel == Channel.SMS.value))
        .where(Contact.erased_at.is_(None), Contact.id > after, wanted,
               Contact.id.in_(only) if only is not None else true())
        .order_by(Contact.id)
        .limit(limit)
    )
    return [
        RegisterEntry(
            id=row[0],
            public_id=row[1],
            name=row[2],
            email=row[3],
            phone=row[4],
            language=row[5],
            email_deliverable=row[6] is None,
            email_consent=_state(row[7:12]),
            sms_consent=_state(row[12:17]),
        )
        for row in session.execute(query)
    ]


def iter_register(
    new_uow: Callable[[], UnitOfWork], *, channel: str | None = None, after: int = 0,
    batch: int = DEFAULT_BATCH,
) -> Iterator[list[RegisterEntry]]:
    """Yield the whole register in batches, each read in a short transaction of its own.

    Memory stays constant however long the register is, and no connection is held between
    batches, so a slow reader cannot pin the database.
    """
    while True:
        with new_uow() as uow:
            entries = read_batch(uow.session, after=after, limit=batch, channel=channel)
        if not entries:
            return
        yield entries
        if len(entries) < batch:
            return
        after = entries[-1].id


@dataclass(frozen=True)
class Recipient:
    """One person a newsletter tool may contact on one channel, with what it needs to do so."""

    contact_id: str
    channel: str
    name: str | None
    address: str
    language: str
    consented_at: datetime
    unsubscribe_url: str
    list_unsubscribe: str | None
    list_unsubscribe_post: str | None


def recipient(deps: Deps, entry: RegisterEntry, channel: str) -> Recipient:
    """Return the entry as a recipient on the channel, with its link and header values."""
    consent = entry.email_consent if channel == Channel.EMAIL.value else entry.sms_consent
    address = entry.email if channel == Channel.EMAIL.value else entry.phone
    if address is None or consent.since is None:
        raise ValueError("the entry is not on the register for this channel")
    url = links.unsubscribe_url(deps, entry.public_id, channel)
    headers = letters.unsubscribe_headers(deps, url) if channel == Channel.EMAIL.value else {}
    return Recipient(
        contact_id=entry.public_id,
        channel=channel,
        name=entry.name,
        address=address,
        language=entry.language,
        consented_at=consent.since,
        unsubscribe_url=url,
        list_unsubscribe=headers.get("List-Unsubscribe"),
        list_unsubscribe_post=headers.get("List-Unsubscribe-Post"),
    )


@dataclass(frozen=True)
class RegisterQuery:
    """A validated request for register pages."""

    channel: str
    after: int
    limit: int


def parse_query(channel: str | None, cursor: str | None, limit: str | None) -> RegisterQuery:
    """Validate channel, cursor and limit, naming every parameter at fault."""
    problems = []
    chosen = (channel or Channel.EMAIL.value).strip().lower()
    if chosen not in CHANNELS:
        problems.append(FieldProblem("channel", "must be email or sms"))
    after: int | None = 0
    if cursor:
        after = whole_number(cursor)
        if after is None:
            problems.append(FieldProblem("cursor", "must be a next_cursor from an earlier page"))
    size: int | None = 100
    if limit:
        size = whole_number(limit, low=1, high=MAX_PAGE)
        if size is None:
            problems.append(FieldProblem("limit", f"must be a whole number from 1 to {MAX_PAGE}"))
    if problems or after is None or size is None:
        raise InvalidInput(problems)
    return RegisterQuery(chosen, after, size)


@dataclass(frozen=True)
class RegisterPage:
    """One page of recipients and where the next one starts (None at the end)."""

    channel: str
    recipients: list[Recipient]
    next_cursor: str | None


def read_page(uow: UnitOfWork, deps: Deps, query: RegisterQuery) -> RegisterPage:
    """Return one page of the register on a channel."""
    with uow:
        entries = read_batch(uow.session, after=query.after, limit=query.limit + 1,
                             channel=query.channel)
    more = len(entries) > query.limit
    entries = entries[: query.limit]
    return RegisterPage(
        channel=query.channel,
        recipients=[recipient(deps, e, query.channel) for e in entries],
        next_cursor=str(entries[-1].id) if more and entries else None,
    )


def stream_recipients(
    new_uow: Callable[[], UnitOfWork], deps: Deps, query: RegisterQuery,
    batch: int = DEFAULT_BATCH,
) -> Iterator[list[Recipient]]:
    """Yield every recipient on the channel after the query's cursor, batch by batch."""
    for entries in iter_register(new_uow, channel=query.channel, after=query.after, batch=batch):
        yield [recipient(deps, e, query.channel) for e in entries]


CSV_FIELDS = {
    "email": ("contact_id", "name", "email", "language", "consented_at", "unsubscribe_url",
              "list_unsubscribe", "list_unsubscribe_post"),
    "sms": ("contact_id", "name", "phone", "language", "consented_at", "unsubscribe_url"),
}
# A spreadsheet treats a cell starting with one of these as a formula (or a command via DDE).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """Return a cell value a spreadsheet shows as text, never runs as a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def as_record(item: Recipient) -> dict[str, str | None]:
    """Return a recipient as the named fields the API hands out for its channel."""
    address_field = "email" if item.channel == Channel.EMAIL.value else "phone"
    record: dict[str, str | None] = {
        "contact_id": item.contact_id,
        "name": item.name,
        address_field: item.address,
        "language": item.language,
        "consented_at": item.consented_at.isoformat(),
        "unsubscribe_url": item.unsubscribe_url,
    }
    if item.channel == Channel.EMAIL.value:
        record["list_unsubscribe"] = item.list_unsubscribe
        record["list_unsubscribe_post"] = item.list_unsubscribe_post
    return record


def csv_row(item: Recipient) -> list[str]:
    """Return a recipient as one CSV row, every cell safe to open in a spreadsheet."""
    record = as_record(item)
    return [spreadsheet_safe(record.get(name) or "") for name in CSV_FIELDS[item.channel]]

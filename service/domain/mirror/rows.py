"""What the mirror's tab shows: its header and one row per contact on the register."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from service.domain.dependencies import Deps
from service.domain.i18n import t
from service.domain.languages import LANGUAGES
from service.domain.links import unsubscribe_url
from service.domain.register import ChannelState, RegisterEntry, iter_register
from service.domain.uow import UnitOfWork

# The tab's columns, worded by the catalogue in the practice's default language. Tools that read
# the tab rely on the header words never changing: change a msgstr of these only on purpose.
HEADER_KEYS: tuple[str, ...] = tuple(f"mirror.header.{column}" for column in (
    "contact_key", "email", "name", "phone", "language", "email_consent", "email_consent_since",
    "sms_consent", "sms_consent_since", "source", "recorded_by", "unsubscribe_link"))
REGISTER_BATCH = 2000  # contacts read per short transaction in a full pass


def header(language: str) -> tuple[str, ...]:
    """Return the tab's header row in the language (Finnish for one the service does not speak)."""
    spoken = language if language in LANGUAGES else "fi"
    return tuple(t(spoken, key) for key in HEADER_KEYS)


class RowFormatter:
    """Turn register entries into the tab's rows (all values text)."""

    def __init__(self, deps: Deps, known_links: Mapping[str, str] | None = None) -> None:
        """Remember the language, the time zone, how links are made and links made before."""
        self._deps = deps
        self._language = deps.practice.default_language
        spoken = self._language if self._language in LANGUAGES else "fi"
        self._yes_no = (t(spoken, "mirror.yes"), t(spoken, "mirror.no"))
        self._zone = ZoneInfo(deps.practice.timezone)
        # Signing a link is most of the cost of a row; a contact's link never changes while
        # the process runs (the keys are read at start), so the last pass's links are reused.
        self._known_links = known_links or {}
        self.links: dict[str, str] = {}

    def _when(self, value: datetime | None) -> str:
        return value.astimezone(self._zone).strftime("%Y-%m-%d %H:%M") if value else ""

    def _consent(self, state: ChannelState, allowed: bool) -> tuple[str, str]:
        yes, no = self._yes_no
        return (yes, self._when(state.since)) if allowed else (no, "")

    def row(self, entry: RegisterEntry) -> list[str]:
        """Return the row of one contact on the register."""
        return self._row(entry, entry.may_contact("email"), entry.may_contact("sms"))

    def shown_row(self, entry: RegisterEntry) -> list[str] | None:
        """Return the row of the contact, or None when they are not on the register."""
        email_ok = entry.may_contact("email")
        sms_ok = entry.may_contact("sms")
        return self._row(entry, email_ok, sms_ok) if email_ok or sms_ok else None

    def _row(self, entry: RegisterEntry, email_ok: bool, sms_ok: bool) -> list[str]:
        email_yes, email_since = self._consent(entry.email_consent, email_ok)
        sms_yes, sms_since = self._consent(entry.sms_consent, sms_ok)
        source_state = entry.email_consent if email_ok else entry.sms_consent
        link = ""
        if email_ok:
            link = (self.links.get(entry.public_id)
                    or self._known_links.get(entry.public_id)
                    or unsubscribe_url(self._deps, entry.public_id))
            self.links[entry.public_id] = link
        return [
            entry.public_id,
            entry.email or "",
            entry.name or "",
            entry.phone or "",
            entry.language,
            email_yes,
            email_since,
            sms_yes,
            sms_since,
            source_state.method or "",
            source_state.witness or "",
            link,
        ]


def on_register(entry: RegisterEntry) -> bool:
    """Tell whether the entry has a row in the mirror (someone may be contacted on a channel)."""
    return entry.may_contact("email") or entry.may_contact("sms")


class RegisterRows:
    """The rows of everyone on the register, in contact order, read afresh at each iteration.

    The register is read in keyset batches, each in a short transaction of its own, and each
    row is made as it is needed, so a full pass never holds the register's rows. Links signed
    in one iteration are reused by the next (signing is most of the cost of a row).
    """

    def __init__(
        self, new_uow: Callable[[], UnitOfWork], deps: Deps,
        links: Mapping[str, str] | None = None,
    ) -> None:
        """Remember where to read the register and the unsubscribe links of the last pass."""
        self._new_uow = new_uow
        self.formatter = RowFormatter(deps, links)
        # Each row's key and contact id as the first complete iteration found them: what the
        # mirror was made to show.
        self.shown: dict[str, int] | None = None

    def __iter__(self) -> Iterator[list[str]]:
        """Yield each row on the register, reading it in batches."""
        # Only the first iteration notes the keys: later ones serve the rows to be written.
        shown: dict[str, int] | None = {} if self.shown is None else None
        for batch in iter_register(self._new_uow, batch=REGISTER_BATCH):
            for entry in batch:
                row = self.formatter.shown_row(entry)
                if row is not None:
                    if shown is not None:
                        shown[entry.public_id] = entry.id
                    yield row
        if shown is not None:
            self.shown = shown

    def links(self) -> dict[str, str]:
        """Return the unsubscribe links of the rows read, to be reused by the next pass."""
        return self.formatter.links

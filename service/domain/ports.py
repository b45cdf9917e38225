"""Small interfaces through which the core reaches the outside world."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from service.domain.chain import Checkpoint


class Clock(Protocol):
    """Tell the current time."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware in UTC."""
        ...


class Mailer(Protocol):
    """Deliver one fully rendered message."""

    def deliver(self, message_id: str, sender: str, recipients: Sequence[str], raw: bytes) -> None:
        """Deliver the message; delivering twice must be harmless.

        Raises MailDeliveryError when a later attempt may succeed, MailUndeliverable when no
        attempt ever will.
        """
        ...


class MailDeliveryError(Exception):
    """The message could not be delivered now; try again later."""


class PermanentFailure(Exception):
    """A side effect that can never succeed as it stands: park it at once, do not retry.

    The message is the reason, in words a person can act on; it is stored on the parked item
    and logged, so it never holds personal data (no addresses).
    """


class MailUndeliverable(PermanentFailure):
    """This message can never be delivered as it stands (refused for good, or not buildable)."""


@dataclass(frozen=True)
class MirrorReport:
    """What one mirror pass found and did."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    requests: int = 0
    repaired_layout: bool = False

    @property
    def drift(self) -> bool:
        """Tell whether the mirror differed from the register."""
        return bool(self.added or self.changed or self.removed or self.repaired_layout)


class MirrorUnavailable(Exception):
    """The mirror's backend is out of reach or over quota now; the pass should be retried."""


class MirrorMisconfigured(Exception):
    """The mirror cannot work until a person fixes its configuration; the message says what."""


class RegisterMirror(Protocol):
    """A place where the register is shown: a Google Sheet tab or a local spreadsheet file.

    The first column of every row is the contact key (the contact's public id); rows are
    matched by it, never by position.
    """

    def apply(
        self, header: Sequence[str], rows: Iterable[Sequence[str]], *, check_only: bool = False
    ) -> MirrorReport:
        """Make the mirror show exactly header and rows (or only compare when check_only).

        rows is a stream, read again each time it is iterated (the whole register, in batches):
        a mirror may iterate it more than once but should not hold it whole. A row that changes
        or leaves between two readings is the business of the pass its change queued.
        """
        ...


class MirrorNeedsFullPass(Exception):
    """An incremental pass found the mirror not as it expected; a full pass must put it right."""


@dataclass(frozen=True)
class RowChange:
    """One contact whose row may have changed since the mirror's last pass."""

    key: str
    order: int  # where the row belongs: rows stand in ascending order (the contact's id)
    row: Sequence[str] | None  # None: the contact is no longer on the register


@runtime_checkable
class IncrementalMirror(Protocol):
    """A mirror that can write only the rows that changed, without reading every row."""

    def apply_changes(
        self, header: Sequence[str], changes: Sequence[RowChange], shown: Mapping[str, int]
    ) -> MirrorReport:
        """Write the changed rows, given what the last pass left shown (key to order).

        Raises MirrorNeedsFullPass when the mirror is not as the last pass left it.
        """
        ...


@dataclass(frozen=True)
class CheckpointCopies:
    """The checkpoints read back from where they were written, and what could not be read."""

    found: Sequence[Checkpoint]
    unreadable: Sequence[str]  # e.g. "row 7: made_at '' is not a time"


class CheckpointLog(Protocol):
    """A place outside the database where signed checkpoints of the ledger are appended.

    The Google Sheet's protected checkpoints tab, or a file beside the local mirror. Raises
    MirrorUnavailable (try again later) or MirrorMisconfigured (a person must act).
    """

    where: str  # in words, for reports: "the tab 'checkpoints' of spreadsheet ..."

    def append(self, checkpoint: Checkpoint) -> None:
        """Add the checkpoint; adding one that is already there changes nothing."""
        ...

    def read(self) -> CheckpointCopies:
        """Return every checkpoint written so far."""
        ...

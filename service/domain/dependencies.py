"""What every use case needs: the clock, the token service and the practice's policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from argon2 import Parameters, profiles

from service.domain.ports import Clock
from service.domain.tokens import TokenService


@dataclass(frozen=True)
class Practice:
    """The practice's settings that the rules depend on."""

    organization: str
    public_url: str
    mail_from: str
    privacy_url: str | None
    unsubscribe_mailto: str | None
    double_opt_in: bool
    default_language: str
    timezone: str = "Europe/Helsinki"
    organization_address: str | None = None

    @property
    def one_click_allowed(self) -> bool:
        """Tell whether List-Unsubscribe-Post may be advertised (RFC 8058 needs https)."""
        return self.public_url.startswith("https://")


@dataclass(frozen=True)
class ErasureRecord:
    """What is kept of one erasure outside the database: never an address or a name.

    contact_id is the contact's public id (a random UUID that the tombstone keeps anyway);
    address_hash is the keyed hash of its address (see rights.address_hash), and key_id tells
    which erasure key made it, so a restore can tell whether the hash still fits.
    """

    contact_id: str
    address_hash: str | None
    key_id: str | None
    erased_at: datetime


class ErasureJournal(Protocol):
    """Where erasures are recorded so that restoring a backup cannot undo them."""

    def record(self, erasure: ErasureRecord) -> None:
        """Keep the erasure durably (written and flushed to disk) before returning."""
        ...


# What hashing one staff password costs: RFC 9106's second recommended (low-memory) argon2id
# profile, 64 MiB and three passes, argon2-cffi's default.
STAFF_PASSWORD_COST = profiles.RFC_9106_LOW_MEMORY


@dataclass(frozen=True)
class Deps:
    """The collaborators a use case is handed by the composition root."""

    clock: Clock
    tokens: TokenService
    practice: Practice
    erasure_journal: ErasureJournal | None = None
    # Only tests pass a cheaper cost, in-process: no setting or variable can lower it.
    password_cost: Parameters = field(default_factory=lambda: STAFF_PASSWORD_COST)

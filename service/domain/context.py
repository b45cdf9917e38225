"""What every use case needs: the clock, the token service and the practice's policy."""

from __future__ import annotations

from dataclasses import dataclass

from service.domain.ports import Clock
from service.domain.tokens import Purpose, TokenService


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

    @property
    def one_click_allowed(self) -> bool:
        """Tell whether List-Unsubscribe-Post may be advertised (RFC 8058 needs https)."""
        return self.public_url.startswith("https://")


@dataclass(frozen=True)
class Deps:
    """The collaborators a use case is handed by the composition root."""

    clock: Clock
    tokens: TokenService
    practice: Practice

    def link(self, purpose: Purpose, token: str) -> str:
        """Return the public URL for a token of this purpose."""
        return f"{self.practice.public_url}/{purpose.value}/{token}"

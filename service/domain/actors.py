"""Who acts on the register: the person, a staff account, an API key, the system."""

from __future__ import annotations

from dataclasses import dataclass

from service.domain.models import ActorType


@dataclass(frozen=True)
class Actor:
    """Who caused an event: the person, a staff account, an API key, the system."""

    type: ActorType
    id: str | None = None

    @classmethod
    def person(cls) -> Actor:
        """Return the person themselves."""
        return cls(ActorType.PERSON)

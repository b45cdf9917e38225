"""One transaction per use case, and what follows the domain events it recorded."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from service.domain import domain_events

# What follows a kind of domain event (a mirror pass, outbound webhooks): called once per
# transaction with every event of that transaction that calls for it, in order.
SideEffect = Callable[[Session, Sequence[Any]], None]
SideEffects = Mapping[type, Sequence[SideEffect]]


class UnitOfWork:
    """A transaction: commit() keeps the work, leaving the block without it rolls back."""

    def __init__(
        self, session_factory: sessionmaker[Session], side_effects: SideEffects | None = None
    ) -> None:
        """Remember where sessions come from and what follows each domain event."""
        self._factory = session_factory
        self._session: Session | None = None
        self._side_effects = side_effects

    @property
    def session(self) -> Session:
        """Return the open session."""
        if self._session is None:
            raise RuntimeError("unit of work used outside its with-block")
        return self._session

    def __enter__(self) -> UnitOfWork:
        """Open a session; the transaction begins on first use."""
        self._session = self._factory()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed and close the session."""
        session = self.session
        try:
            session.rollback()
        finally:
            session.close()
            self._session = None

    def commit(self) -> None:
        """Do what follows the events recorded so far, then keep the work, in one transaction."""
        session = self.session
        follow(session, domain_events.take(session), self._side_effects)
        session.commit()


def follow(session: Session, events: Sequence[domain_events.DomainEvent],
           side_effects: SideEffects | None) -> None:
    """Run each side effect the events call for once, with its events, in the table's order."""
    if not events:
        return
    if side_effects is None:
        # Dropping them would lose a delivery or leave the mirror stale without a word.
        raise RuntimeError("domain events recorded in a unit of work without side effects")
    wanted: dict[SideEffect, list[domain_events.DomainEvent]] = {}
    for happened in events:
        for effect in side_effects[type(happened)]:
            wanted.setdefault(effect, []).append(happened)
    for effect, its_events in wanted.items():
        effect(session, its_events)

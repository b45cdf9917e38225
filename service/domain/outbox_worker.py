"""Draining the outbox: each kind of side effect has a handler; failures are retried.

A handler raising PermanentFailure says the item can never succeed as it stands: it is parked
at once with the failure's reason (status dead), never retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from service.domain import outbox
from service.domain.outbox import ClaimedItem
from service.domain.ports import Clock, PermanentFailure

log = logging.getLogger("consent.worker")


class RetryLater(Exception):
    """The side effect could not be done now; retry_after may say when to try again."""

    def __init__(
        self, message: str, retry_after: timedelta | None = None, *, already_logged: bool = False
    ) -> None:
        """Keep the reason (no personal data), the suggested delay, and whether it was logged."""
        super().__init__(message)
        self.retry_after = retry_after
        # The handler logged it once already; repeating it at every retry only floods the log.
        self.already_logged = already_logged


Handler = Callable[[ClaimedItem], None]


@dataclass
class OutboxWorker:
    """Claim due outbox items, run their handlers, record the outcome."""

    session_factory: sessionmaker[Session]
    clock: Clock
    handlers: Mapping[str, Handler]
    lease: timedelta = timedelta(minutes=5)
    batch: int = 10

    def run_once(self) -> int:
        """Process one batch of due items; return how many were handled."""
        with self.session_factory() as session:
            items = outbox.claim_due(
                session, now=self.clock.now(), lease=self.lease, limit=self.batch,
                kinds=tuple(self.handlers),
            )
            session.commit()
        for item in items:
            self._handle(item)
        return len(items)

    def _handle(self, item: ClaimedItem) -> None:
        try:
            self.handlers[item.kind](item)
        except PermanentFailure as exc:
            # The reason holds no personal data (see PermanentFailure); a traceback adds nothing.
            log.error("outbox item %s (%s) parked: %s", item.id, item.kind, exc)
            with self.session_factory() as session:
                outbox.park(session, item.id, str(exc))
                session.commit()
            return
        except Exception as exc:
            retry_after = exc.retry_after if isinstance(exc, RetryLater) else None
            if not isinstance(exc, RetryLater):
                log.exception("outbox item %s (%s) failed", item.id, item.kind)
            else:
                log.log(logging.DEBUG if exc.already_logged else logging.WARNING,
                        "outbox item %s (%s) will be retried: %s", item.id, item.kind, exc)
            with self.session_factory() as session:
                outbox.fail(session, item.id, f"{type(exc).__name__}: {exc}",
                            now=self.clock.now(), retry_after=retry_after)
                session.commit()
            return
        with self.session_factory() as session:
            outbox.complete(session, item.id, now=self.clock.now())
            session.commit()

    def drain(self, max_rounds: int = 1000) -> int:
        """Process due items until none is left (for tests and one-shot commands)."""
        total = 0
        for _ in range(max_rounds):
            handled = self.run_once()
            total += handled
            if handled == 0:
                break
        return total

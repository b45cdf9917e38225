"""The mirror of one process: its writer and lock, what its last pass left, its schedule."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from service.domain.dependencies import Deps
from service.domain.mirror.passes import MirrorLock, MirrorMemory, run_pass
from service.domain.mirror.queue import register_changed, request_full_pass
from service.domain.outbox import ClaimedItem
from service.domain.ports import MirrorReport, RegisterMirror
from service.domain.uow import UnitOfWork


@dataclass
class Mirroring:
    """Run, queue and schedule the passes of one process's register mirror."""

    new_uow: Callable[[], UnitOfWork]
    deps: Deps
    writer: RegisterMirror
    # One mirror writer at a time across processes; the argument says whether to wait for it.
    exclusive: Callable[[bool], AbstractContextManager[bool]]
    # A full pass now and then repairs hand edits even when nothing changed.
    full_pass_seconds: float
    # What this process's last pass left in the mirror: its unsubscribe links, reused by the
    # next pass (see RowFormatter), and its rows' keys, which allow incremental passes.
    memory: MirrorMemory = field(default_factory=MirrorMemory)
    next_full_pass: float = 0.0

    def lock(self, *, wait: bool = False) -> MirrorLock:
        """Return a lock factory: one mirror writer at a time across processes."""
        return lambda: self.exclusive(wait)

    def run(
        self, *, check_only: bool = False, wait: bool = False, attempt: int = 1,
        incremental: bool = False,
    ) -> MirrorReport:
        """Run one mirror pass now (a full one unless incremental is asked for and possible)."""
        return run_pass(self.new_uow, self.deps, self.writer, self.lock(wait=wait),
                        check_only=check_only, attempt=attempt, memory=self.memory,
                        incremental=incremental)

    def schedule_full_pass(self) -> None:
        """Queue a full mirror pass (coalesced with any already waiting)."""
        with self.new_uow() as uow:
            now = self.deps.clock.now()
            request_full_pass(uow.session, now=now)
            register_changed(uow.session, now=now)
            uow.commit()

    def schedule_full_pass_if_due(self, monotonic_now: float) -> bool:
        """Queue the periodic full pass when it is due; tell whether it was queued."""
        if monotonic_now < self.next_full_pass:
            return False
        # Set first: a failure to queue is retried at the next period, not every round.
        self.next_full_pass = monotonic_now + self.full_pass_seconds
        self.schedule_full_pass()
        return True

    def run_queued(self, item: ClaimedItem) -> None:
        """Run a queued mirror pass: only the changed rows, unless a full pass is due."""
        self.run(attempt=item.attempts, incremental=True)

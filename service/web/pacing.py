"""Answers that tell nothing by their timing.

An opt-in for an address already on the register records nothing, and a request for one's
unsubscribe link for an unknown address sends nothing: left alone, those answers come back a
few milliseconds sooner than the ones that did the work, and the difference tells a stranger who
is subscribed. A Pacer keeps the durations of the answers that did the full work and makes a
short answer wait until it has taken as long as one of them, picked at random, so both kinds
of answer take the same time in the same spread. The wait holds a thread, not a core, and only
answers that did less work ever wait.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable

from flask import current_app

# Before any full answer has been timed in this process, a short one lasts this long.
FIRST_GUESS_SECONDS = 0.015
SAMPLES = 64


class Pacer:
    """Time the answers that did the full work; make the others last as long."""

    def __init__(self, *, samples: int = SAMPLES, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None) -> None:
        """Start with no durations known."""
        self._durations: deque[float] = deque(maxlen=samples)
        self._lock = threading.Lock()
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - a spread of waits, not a secret

    def full(self, started: float) -> None:
        """Note how long an answer that did the full work took (started: perf_counter())."""
        took = time.perf_counter() - started
        with self._lock:
            self._durations.append(took)

    def short(self, started: float) -> None:
        """Wait until an answer that did less work has taken as long as a full one would."""
        with self._lock:
            target = self._rng.choice(self._durations) if self._durations \
                else FIRST_GUESS_SECONDS
        remaining = target - (time.perf_counter() - started)
        if remaining > 0:
            self._sleep(remaining)

    def finish(self, started: float, *, did_the_work: bool) -> None:
        """Note a full answer's duration, or pace a short one."""
        if did_the_work:
            self.full(started)
        else:
            self.short(started)


PACERS = "consent.pacers"


def pacer_for(answer: str) -> Pacer:
    """Return this app's pacer of one kind of answer (each app times its own answers)."""
    pacers: dict[str, Pacer] = current_app.extensions.setdefault(PACERS, {})
    pacer = pacers.get(answer)
    return pacer if pacer is not None else pacers.setdefault(answer, Pacer())

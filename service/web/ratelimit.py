"""In-process rate-limit counters for the zero-configuration default (`memory://`).

The `limits` library's own memory storage keeps a timer thread that wakes every 10 ms to scan
every key, and starts a new thread from a request whenever the previous one has finished: on a
busy service that is a thread start per few requests, a full scan of the keys a hundred times a
second (one-click links leave a key per token for a day), and now and then a `KeyError: <Timer>`
in the server's log when two requests start the same timer. The service only uses fixed
windows, which need nothing of that: a counter and the moment its window ends. Expired windows
are reset when their key is next used, and the whole table is swept at most once a minute.

Counters live in one process, as with `memory://`: several processes (gunicorn workers, several
containers) each count on their own, so production uses CONSENT_RATELIMIT_STORAGE_URL=redis://...
"""

from __future__ import annotations

import threading
import time
from typing import Any

from limits.storage import Storage

SCHEME = "consent-memory"
SWEEP_INTERVAL = 60.0


class FixedWindowMemoryStorage(Storage):
    """Fixed-window counters in this process's memory, expired lazily, without a timer thread."""

    STORAGE_SCHEME = [SCHEME]  # noqa: RUF012 (the `limits` registry reads this list)

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False,
                 **options: Any) -> None:
        """Start empty; uri and options are accepted for the `limits` storage interface."""
        self._counts: dict[str, int] = {}
        self._window_ends: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next_sweep = time.time() + SWEEP_INTERVAL
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        """Nothing here talks to another system; no error is a storage outage."""
        return ValueError

    def _sweep(self, now: float) -> None:
        """Forget every window that has ended (called with the lock held)."""
        ended = [key for key, end in self._window_ends.items() if end <= now]
        for key in ended:
            del self._window_ends[key]
            self._counts.pop(key, None)
        self._next_sweep = now + SWEEP_INTERVAL

    def incr(self, key: str, expiry: int | float, amount: int = 1) -> int:
        """Count amount more hits for key; a window ended (or never begun) starts anew."""
        now = time.time()
        with self._lock:
            if now >= self._next_sweep:
                self._sweep(now)
            if self._window_ends.get(key, 0.0) <= now:
                self._window_ends[key] = now + expiry
                self._counts[key] = 0
            count = self._counts[key] + amount
            self._counts[key] = count
            return count

    def get(self, key: str) -> int:
        """Return the hits counted for key in its current window (0 once it has ended)."""
        with self._lock:
            if self._window_ends.get(key, 0.0) <= time.time():
                return 0
            return self._counts.get(key, 0)

    def get_expiry(self, key: str) -> float:
        """Return when key's window ends (now, when it has none)."""
        with self._lock:
            return self._window_ends.get(key, time.time())

    def check(self) -> bool:
        """The storage is in this process: always up."""
        return True

    def reset(self) -> int | None:
        """Forget every counter; return how many there were."""
        with self._lock:
            count = len(self._counts)
            self._counts.clear()
            self._window_ends.clear()
            return count

    def clear(self, key: str) -> None:
        """Forget key's counter."""
        with self._lock:
            self._counts.pop(key, None)
            self._window_ends.pop(key, None)

    def __len__(self) -> int:
        """Return how many keys are held (ended windows included until the next sweep)."""
        return len(self._counts)


def storage_uri(configured: str) -> str:
    """Return the storage URI to give the limiter: `memory://` becomes this module's storage."""
    if configured.strip().lower().rstrip("/") in ("memory:", "memory"):
        return f"{SCHEME}://"
    return configured

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

A shared storage that does not answer must not switch the limits off (the login throttle and
the per-link limits are security controls), nor take the service down: while it is down,
FallbackStorage counts in this process's memory, and returns to the shared storage once it
answers again.
Flask-Limiter's own `in_memory_fallback_enabled` cannot be used for this: it always falls back
to the `limits` library's memory storage (the timer thread described above), and covers the
check before a request but not a counter added after the answer (`deduct_when`), whose
storage error would then fail the request.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage, Storage, storage_from_string
from limits.strategies import STRATEGIES, FixedWindowRateLimiter

SCHEME = "consent-memory"
FALLBACK_SCHEME = "consent-fallback"
SWEEP_INTERVAL = 60.0
# While the shared storage is down, how often (seconds) one request asks whether it is back.
PROBE_INTERVAL = 10.0
# A Redis that does not answer must hold no request for long (redis-py waits for the operating
# system's connect timeout by default, two minutes on Linux). Options in the URL win.
REDIS_TIMEOUTS: dict[str, str | int] = {"socket_connect_timeout": 1, "socket_timeout": 1}
REDIS_SCHEMES = ("redis", "rediss", "redis+unix")

log = logging.getLogger("consent.web.ratelimit")
T = TypeVar("T")

# The limiter's strategy (Limiter(strategy=STRATEGY)): fixed windows, the per-link ones counted
# together (CountedTogether).
STRATEGY = "consent-fixed-window"
# The windows of a personal link's limit (service/web/unsubscribe.py, ONE_CLICK_LIMIT), keyed
# per token ("token:..."): counted in one storage round trip instead of one per window.
PER_LINK_WINDOWS: tuple[RateLimitItem, ...] = tuple(sorted(parse_many("10/minute;100/day")))
PER_LINK_KEY_PREFIX = "token:"
# Count several fixed windows of one key at once: each window as `limits` counts one (INCRBY,
# and EXPIRE when the window begins), shortest first, stopping after the first that is full,
# as Flask-Limiter stops at the first limit breached. KEYS: the windows' keys; ARGV: the cost,
# then the expiry and the limit of each window. Returns the counts made.
COUNT_WINDOWS_LUA = """
local cost = tonumber(ARGV[1])
local counts = {}
for i, key in ipairs(KEYS) do
  local count = redis.call("incrby", key, cost)
  if count == cost then
    redis.call("expire", key, ARGV[2 * i])
  end
  counts[i] = count
  if count > tonumber(ARGV[2 * i + 1]) then
    break
  end
end
return counts
"""
# A window's key, its expiry (seconds) and its limit.
Window = tuple[str, int, int]


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

    def __bool__(self) -> bool:
        """Be true even when empty: Flask-Limiter tests its storage for truth (not for None)."""
        return True


class FallbackStorage(Storage):
    """The shared counters (Redis), or this process's own while the shared ones do not answer.

    One warning is logged when counting falls back to this process, and one info line when
    the shared storage answers again. Counts made meanwhile stay in the process they were made
    in (a limit then holds per process, not across them); none are carried over.
    """

    STORAGE_SCHEME = [FALLBACK_SCHEME]  # noqa: RUF012 (the `limits` registry reads this list)

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, *,
                 shared: str = "", probe_interval: float = PROBE_INTERVAL,
                 **options: Any) -> None:
        """Open the shared storage named by `shared` (options go to it) and an empty fallback."""
        if not shared:
            raise ValueError("FallbackStorage needs the URI of the shared storage")
        if shared.partition("://")[0].lower() in REDIS_SCHEMES:
            options = {**REDIS_TIMEOUTS, **options}
        opened = storage_from_string(shared, **options)
        if not isinstance(opened, Storage):
            raise ValueError(f"{shared.partition('://')[0]}:// is an asyncio storage")
        self._shared: Storage = opened
        self._local = FixedWindowMemoryStorage()
        self._probe_interval = float(probe_interval)
        self._lock = threading.Lock()
        self._down = False
        self._next_probe = 0.0
        super().__init__(uri, wrap_exceptions=wrap_exceptions)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        """Nothing escapes: an error of the shared storage is a fall back, not a failure."""
        return ValueError

    @property
    def shared_is_down(self) -> bool:
        """Tell whether counting happens in this process for now."""
        return self._down

    def _shared_answers(self) -> bool:
        try:
            return bool(self._shared.check())
        except self._shared.base_exceptions:
            return False

    def _current(self) -> Storage:
        """Return where to count now; while the shared storage is down, probe it now and then."""
        with self._lock:
            if not self._down:
                return self._shared
            now = time.time()
            if now < self._next_probe:
                return self._local
            # Set before probing, outside the lock: one request probes, the others go on.
            self._next_probe = now + self._probe_interval
        if not self._shared_answers():
            return self._local
        with self._lock:
            if self._down:
                self._down = False
                self._local.reset()
                log.info("rate-limit storage answers again; counting there again")
        return self._shared

    def _fall_back(self, exc: Exception) -> None:
        with self._lock:
            if not self._down:
                self._down = True
                self._next_probe = time.time() + self._probe_interval
                # The error's type only: its text may hold the storage URL and its password.
                log.warning("rate-limit storage does not answer (%s); counting in this "
                            "process until it does", type(exc).__name__)

    def _run(self, operation: Callable[[Storage], T]) -> T:
        storage = self._current()
        if storage is self._shared:
            try:
                return operation(storage)
            except self._shared.base_exceptions as exc:
                self._fall_back(exc)
        return operation(self._local)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Count amount more hits for key."""
        return self._run(lambda s: s.incr(key, expiry, amount))

    def count_windows(self, windows: list[Window], cost: int = 1) -> list[int]:
        """Count hits in several windows at once (see count_windows)."""
        return self._run(lambda s: count_windows(s, windows, cost))

    def get(self, key: str) -> int:
        """Return the hits counted for key in its current window."""
        return self._run(lambda s: s.get(key))

    def get_expiry(self, key: str) -> float:
        """Return when key's window ends."""
        return self._run(lambda s: s.get_expiry(key))

    def check(self) -> bool:
        """Counting always works, shared or not."""
        return True

    def reset(self) -> int | None:
        """Forget every counter, shared and local."""
        self._local.reset()
        return self._run(lambda s: s.reset())

    def clear(self, key: str) -> None:
        """Forget key's counter, shared and local."""
        self._local.clear(key)
        self._run(lambda s: s.clear(key))


# The script registered with each Redis storage's client (EVALSHA, loaded once per server).
_scripts: weakref.WeakKeyDictionary[Storage, Any] = weakref.WeakKeyDictionary()


def count_windows(storage: Storage, windows: list[Window], cost: int = 1) -> list[int]:
    """Count cost hits in each window, shortest first, until one is full; return the counts.

    On Redis this is one round trip (COUNT_WINDOWS_LUA); elsewhere, one `incr` per window.
    """
    if isinstance(storage, FallbackStorage):
        return storage.count_windows(windows, cost)
    if isinstance(storage, RedisStorage):
        script = _scripts.get(storage)
        if script is None:
            script = _scripts[storage] = storage.get_connection().register_script(
                COUNT_WINDOWS_LUA.encode())
        keys = [storage.prefixed_key(key) for key, _, _ in windows]
        args = [cost, *(n for _, expiry, limit in windows for n in (expiry, limit))]
        return [int(count) for count in script(keys, args)]
    counts = []
    for key, expiry, limit in windows:
        counts.append(storage.incr(key, expiry, cost))
        if counts[-1] > limit:
            break
    return counts


class CountedTogether(FixedWindowRateLimiter):
    """Fixed windows, where a personal link's windows are counted in one storage round trip.

    Flask-Limiter hits a limit's windows one after the other, shortest first, in the same
    thread, and stops at the first one full. So the first window's hit counts the later ones
    too (stopping where Flask-Limiter would) and keeps their outcome for the hits that follow
    at once; a kept outcome not asked for by the very next hit is dropped.
    """

    def __init__(self, storage: Any) -> None:
        """Count in storage."""
        super().__init__(storage)
        self._counted = threading.local()

    def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        """Count one hit of the window; True while it is not over its limit."""
        key = item.key_for(*identifiers)
        kept: list[tuple[str, bool]] = getattr(self._counted, "outcomes", [])
        self._counted.outcomes = []
        if kept and kept[0][0] == key:
            self._counted.outcomes = kept[1:]
            return kept[0][1]
        if (item != PER_LINK_WINDOWS[0] or len(identifiers) < 2
                or not identifiers[-2].startswith(PER_LINK_KEY_PREFIX)):
            return super().hit(item, *identifiers, cost=cost)
        windows = [(window.key_for(*identifiers), window.get_expiry(), window.amount)
                   for window in PER_LINK_WINDOWS]
        counts = count_windows(self.storage, windows, cost)
        outcomes = [(w[0], count <= w[2]) for w, count in zip(windows, counts, strict=False)]
        self._counted.outcomes = outcomes[1:]
        return outcomes[0][1]


# Flask-Limiter names its strategy; `limits` keeps the names in this table.
STRATEGIES[STRATEGY] = CountedTogether


def _is_memory(configured: str) -> bool:
    return configured.strip().lower().rstrip("/") in ("memory:", "memory")


def storage_uri(configured: str) -> str:
    """Return the storage URI to give the limiter.

    `memory://` becomes this module's in-process storage; a shared one (redis://...) is wrapped
    in FallbackStorage, which storage_options names it to.
    """
    if _is_memory(configured):
        return f"{SCHEME}://"
    return f"{FALLBACK_SCHEME}://"


def storage_options(configured: str) -> dict[str, str | int]:
    """Return the options to give the limiter with storage_uri's URI."""
    if _is_memory(configured):
        return {}
    return {"shared": configured}

"""The zero-config rate-limit storage: fixed windows counted in memory, without a timer thread."""

from __future__ import annotations

import threading
import time

import pytest
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from service.web import ratelimit


def test_memory_url_is_served_by_the_fixed_window_storage() -> None:
    assert ratelimit.storage_uri("memory://") == "consent-memory://"
    assert ratelimit.storage_uri("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert isinstance(storage_from_string("consent-memory://"),
                      ratelimit.FixedWindowMemoryStorage)


def test_a_key_is_refused_past_its_limit_and_others_are_not_affected() -> None:
    limiter = FixedWindowRateLimiter(ratelimit.FixedWindowMemoryStorage())
    three = parse("3/minute")
    assert [limiter.hit(three, "10.0.0.1") for _ in range(5)] == [True, True, True, False, False]
    assert limiter.hit(three, "10.0.0.2")
    stats = limiter.get_window_stats(three, "10.0.0.1")
    assert stats.remaining == 0
    assert time.time() < stats.reset_time <= time.time() + 60


def test_a_window_that_has_ended_counts_from_zero_again(monkeypatch: pytest.MonkeyPatch) -> None:
    storage = ratelimit.FixedWindowMemoryStorage()
    limiter = FixedWindowRateLimiter(storage)
    two = parse("2/minute")
    assert limiter.hit(two, "k") and limiter.hit(two, "k") and not limiter.hit(two, "k")
    later = time.time() + 61
    monkeypatch.setattr(ratelimit.time, "time", lambda: later)
    assert limiter.test(two, "k")
    assert limiter.hit(two, "k") and limiter.hit(two, "k") and not limiter.hit(two, "k")


def test_ended_windows_are_swept_so_one_time_keys_do_not_pile_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage = ratelimit.FixedWindowMemoryStorage()
    for n in range(1000):
        storage.incr(f"token-{n}", 5)
    assert len(storage) == 1000
    later = time.time() + ratelimit.SWEEP_INTERVAL + 1
    monkeypatch.setattr(ratelimit.time, "time", lambda: later)
    storage.incr("a-new-key", 5)
    assert len(storage) == 1


def test_no_thread_is_started_to_expire_counters() -> None:
    before = threading.active_count()
    storage = ratelimit.FixedWindowMemoryStorage()
    for n in range(200):
        storage.incr(f"k{n % 7}", 1)
    assert threading.active_count() == before


def test_concurrent_hits_are_all_counted() -> None:
    storage = ratelimit.FixedWindowMemoryStorage()

    def hit() -> None:
        for _ in range(500):
            storage.incr("shared", 60)

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert storage.get("shared") == 4000

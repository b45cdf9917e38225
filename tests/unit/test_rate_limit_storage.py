"""The zero-config rate-limit storage: fixed windows counted in memory, without a timer thread."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import threading
import time

import pytest
import redis
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from service.web import ratelimit

REDIS_SERVER = shutil.which("redis-server")


def test_memory_url_is_served_by_the_fixed_window_storage() -> None:
    assert ratelimit.storage_uri("memory://") == "consent-memory://"
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


def _closed_port() -> int:
    """Return a loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _fallback_records(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records
            if r.name == "consent.web.ratelimit"]


def test_a_shared_storage_is_wrapped_so_limits_outlive_its_outages() -> None:
    assert ratelimit.storage_uri("redis://127.0.0.1:6379/0") == "consent-fallback://"
    assert ratelimit.storage_options("redis://127.0.0.1:6379/0") == {
        "shared": "redis://127.0.0.1:6379/0"}
    assert ratelimit.storage_options("memory://") == {}
    storage = storage_from_string("consent-fallback://", shared="redis://127.0.0.1:6379/0")
    assert isinstance(storage, ratelimit.FallbackStorage)


def test_limits_hold_in_this_process_while_redis_is_down_and_say_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="consent.web.ratelimit")
    storage = ratelimit.FallbackStorage(shared=f"redis://127.0.0.1:{_closed_port()}/0",
                                        password="hunter2-redis-password")
    limiter = FixedWindowRateLimiter(storage)
    three = parse("3/minute")
    assert [limiter.hit(three, "10.0.0.1") for _ in range(5)] == [True, True, True, False, False]
    assert limiter.hit(three, "10.0.0.2")
    assert storage.shared_is_down and storage.check()
    records = _fallback_records(caplog)
    assert len(records) == 1 and records[0][0] == logging.WARNING
    assert "hunter2" not in caplog.text


def _start_redis(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [REDIS_SERVER or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, "redis did not start"
            time.sleep(0.05)


def _stop_redis(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(timeout=10)


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed here")
def test_counting_falls_back_when_redis_stops_and_returns_when_it_answers_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="consent.web.ratelimit")
    port = _closed_port()
    server = _start_redis(port)
    try:
        storage = ratelimit.FallbackStorage(shared=f"redis://127.0.0.1:{port}/0",
                                            probe_interval=0)
        limiter = FixedWindowRateLimiter(storage)
        two = parse("2/minute")
        assert limiter.hit(two, "shared") and not storage.shared_is_down
        _stop_redis(server)
        # Redis is gone: the limit still holds, counted in this process from now on.
        assert limiter.hit(two, "local") and limiter.hit(two, "local")
        assert not limiter.hit(two, "local")
        assert storage.shared_is_down
        server = _start_redis(port)
        # Back in Redis (a new, empty one here): nothing of the outage's counts is carried over.
        assert limiter.hit(two, "local")
        assert not storage.shared_is_down
        keys = redis.Redis(host="127.0.0.1", port=port).keys("LIMITS:*")
        assert keys == [b"LIMITS:LIMITER/local/2/1/minute"]
    finally:
        _stop_redis(server)
    assert [level for level, _ in _fallback_records(caplog)] == [logging.WARNING, logging.INFO]

"""A personal link's two windows (10/minute, 100/day) are counted in one Redis round trip."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from limits import RateLimitItem, parse, parse_many
from limits.strategies import FixedWindowRateLimiter, RateLimiter

from service.web import ratelimit
from service.web.unsubscribe import ONE_CLICK_LIMIT

REDIS_SERVER = shutil.which("redis-server")
SCOPE = "unsubscribe.withdraw"
needs_redis = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")


def free_port() -> int:
    """Return a loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def redis_port() -> Iterator[int]:
    """Run a Redis of this test's own on a free port."""
    port = free_port()
    server = subprocess.Popen(
        [REDIS_SERVER or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, "redis did not start"
            time.sleep(0.05)
    yield port
    server.terminate()
    server.wait(timeout=10)


def as_flask_limiter_does(strategy: RateLimiter, limits: list[RateLimitItem], key: str) -> bool:
    """Hit each window shortest first and stop at the first one full, as Flask-Limiter does."""
    return all(strategy.hit(item, key, SCOPE) for item in sorted(limits))


def count_round_trips(storage: ratelimit.FallbackStorage) -> list[str]:
    """Record every command the shared Redis storage sends from now on."""
    client: Any = storage._shared.get_connection()  # type: ignore[attr-defined]
    sent: list[str] = []
    original = client.execute_command

    def counted(*args: Any, **options: Any) -> Any:
        sent.append(str(args[0]))
        return original(*args, **options)

    client.execute_command = counted
    return sent


def test_the_windows_counted_together_are_the_one_click_limit_per_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from service.web import links

    assert tuple(sorted(parse_many(ONE_CLICK_LIMIT))) == ratelimit.PER_LINK_WINDOWS
    monkeypatch.setattr(links, "path_token", lambda: "some-token")
    assert links.token_key().startswith(ratelimit.PER_LINK_KEY_PREFIX)


@needs_redis
def test_one_click_windows_cost_one_redis_round_trip(redis_port: int) -> None:
    storage = ratelimit.FallbackStorage(shared=f"redis://127.0.0.1:{redis_port}/0")
    strategy = ratelimit.CountedTogether(storage)
    assert as_flask_limiter_does(strategy, list(ratelimit.PER_LINK_WINDOWS), "token:warm")
    sent = count_round_trips(storage)

    assert as_flask_limiter_does(strategy, list(ratelimit.PER_LINK_WINDOWS), "token:abc")

    assert sent == ["EVALSHA"]
    keys = sorted(redis.Redis(port=redis_port).keys("LIMITS:LIMITER/token:abc/*"))
    assert keys == [b"LIMITS:LIMITER/token:abc/unsubscribe.withdraw/10/1/minute",
                    b"LIMITS:LIMITER/token:abc/unsubscribe.withdraw/100/1/day"]
    ttl = redis.Redis(port=redis_port).ttl(keys[1])
    assert 86_000 < ttl <= 86_400


@needs_redis
def test_one_round_trip_refuses_and_counts_exactly_as_one_per_window(redis_port: int) -> None:
    together = ratelimit.CountedTogether(
        ratelimit.FallbackStorage(shared=f"redis://127.0.0.1:{redis_port}/0"))
    apart = FixedWindowRateLimiter(ratelimit.FixedWindowMemoryStorage())
    windows = [parse("3/minute"), parse("5/day")]
    # Small windows of the same shape, so that both limits are reached in a few hits.
    ratelimit_windows = ratelimit.PER_LINK_WINDOWS
    try:
        ratelimit.PER_LINK_WINDOWS = (windows[0], windows[1])
        outcomes_together = [as_flask_limiter_does(together, windows, "token:x")
                             for _ in range(6)]
    finally:
        ratelimit.PER_LINK_WINDOWS = ratelimit_windows
    outcomes_apart = [as_flask_limiter_does(apart, windows, "token:x") for _ in range(6)]

    assert outcomes_together == outcomes_apart == [True, True, True, False, False, False]
    # A request refused by the minute window is not counted in the day's.
    day = redis.Redis(port=redis_port).get("LIMITS:LIMITER/token:x/unsubscribe.withdraw/5/1/day")
    assert day == b"3"
    assert apart.storage.get("LIMITER/token:x/unsubscribe.withdraw/5/1/day") == 3


def test_one_click_limit_holds_in_memory_without_redis() -> None:
    strategy = ratelimit.CountedTogether(ratelimit.FixedWindowMemoryStorage())
    windows = list(ratelimit.PER_LINK_WINDOWS)
    outcomes = [as_flask_limiter_does(strategy, windows, "token:y") for _ in range(12)]
    assert outcomes == [True] * 10 + [False] * 2


def test_one_click_limit_holds_while_redis_is_down() -> None:
    storage = ratelimit.FallbackStorage(shared=f"redis://127.0.0.1:{free_port()}/0")
    strategy = ratelimit.CountedTogether(storage)
    windows = list(ratelimit.PER_LINK_WINDOWS)
    outcomes = [as_flask_limiter_does(strategy, windows, "token:z") for _ in range(11)]
    assert outcomes == [True] * 10 + [False]
    assert storage.shared_is_down


def test_other_limits_count_each_window_on_its_own() -> None:
    storage = ratelimit.FixedWindowMemoryStorage()
    strategy = ratelimit.CountedTogether(storage)
    # The per-IP opt-in limit, and the same windows keyed per caller rather than per link.
    assert strategy.hit(parse("10/minute"), "192.0.2.1", "public.subscribe")
    assert strategy.hit(parse("10/minute"), "unsigned-link-from:192.0.2.1", SCOPE)
    assert storage.get("LIMITER/192.0.2.1/public.subscribe/10/1/minute") == 1
    assert len(storage) == 2  # no day window was counted for either

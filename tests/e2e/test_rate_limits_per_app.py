"""Each app counts in its own rate-limit counters, with its own configured limits.

The limiter is one extension object bound to every app the process builds (tests build one
per test): an app built later must neither reset nor share an earlier app's counts.
"""

from __future__ import annotations

from typing import Any

from service.web import create_app
from tests.conftest import make_container


def _link_requests(client: Any, times: int) -> list[int]:
    return [client.post("/unsubscribe", data={"email": "nobody@example.fi"}).status_code
            for _ in range(times)]


def test_an_app_built_later_neither_shares_nor_resets_an_earlier_apps_counts(
    settings: Any, clock: Any
) -> None:
    first = make_container(settings, clock, optin_rate_limit="3/minute")
    second = make_container(settings, clock, optin_rate_limit="5/minute")
    try:
        first_client = create_app(container=first).test_client()
        assert _link_requests(first_client, 4) == [202, 202, 202, 429]
        second_client = create_app(container=second).test_client()
        assert _link_requests(first_client, 1) == [429], "the first app's counts still hold"
        assert _link_requests(second_client, 6) == [202] * 5 + [429], "its own limit, from zero"
    finally:
        first.close()
        second.close()

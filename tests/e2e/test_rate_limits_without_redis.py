"""Rate limits keep holding while the shared counters (Redis) do not answer."""

from __future__ import annotations

import logging
import socket
from typing import Any

from service.web import create_app
from tests.conftest import make_container
from tests.register_support import subscribe, unsubscribe_path
from tests.staff_support import csrf_from


def closed_port() -> int:
    """Return a loopback port nothing listens on: a Redis that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_login_throttle_and_link_limits_hold_while_redis_is_down(
    settings: Any, clock: Any, caplog: Any
) -> None:
    caplog.set_level(logging.INFO, logger="consent.web.ratelimit")
    container = make_container(settings, clock,
                               ratelimit_storage_url=f"redis://127.0.0.1:{closed_port()}/0")
    try:
        client = create_app(container=container).test_client()
        token = csrf_from(client.get("/staff/login").get_data(as_text=True))
        logins = [client.post("/staff/login", data={"name": f"guess{n}", "password": "x",
                                                    "csrf_token": token}).status_code
                  for n in range(31)]
        assert logins == [401] * 30 + [429]
        link = unsubscribe_path(container, subscribe(container, "maija@example.fi"))
        clicks = [client.post(link, data={"List-Unsubscribe": "One-Click"}).status_code
                  for _ in range(11)]
        assert clicks == [200] * 10 + [429]
    finally:
        container.close()
    warnings = [r for r in caplog.records if r.name == "consent.web.ratelimit"]
    assert [r.levelno for r in warnings] == [logging.WARNING], "said once, not per request"

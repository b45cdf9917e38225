"""Outbound delivery over HTTP with requests: sign, POST, read the answer; no redirects."""

from __future__ import annotations

import email.utils
import socket
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import requests

from service.domain.events_out import DELIVERY_KIND, DeliveryService, Reply, Unreachable
from webhooks import standard_webhooks

if TYPE_CHECKING:
    from service.bootstrap import Container

TIMEOUT_SECONDS = 15.0
USER_AGENT = "consent-register-webhooks/1"


def resolve_host(host: str) -> list[str]:
    """Return every address a host resolves to (empty when it does not)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Read Retry-After as seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))


class RequestsSender:
    """POST signed deliveries with requests and a timeout."""

    def __init__(self, timeout: float = TIMEOUT_SECONDS) -> None:
        """Remember the timeout (connect and read)."""
        self.timeout = timeout
        self.session = requests.Session()

    def send(self, url: str, message_id: str, timestamp: int, body: bytes,
             secrets: Sequence[str]) -> Reply:
        """POST one delivery; a 3xx is an answer like any other non-2xx (never followed)."""
        headers = standard_webhooks.headers(secrets, message_id, timestamp, body)
        headers["Content-Type"] = "application/json"
        headers["User-Agent"] = USER_AGENT
        try:
            response = self.session.post(url, data=body, headers=headers, timeout=self.timeout,
                                         allow_redirects=False)
        except requests.Timeout:
            raise Unreachable(f"no answer within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            raise Unreachable(f"could not connect: {type(exc).__name__}") from None
        with response:
            return Reply(response.status_code, parse_retry_after(
                response.headers.get("Retry-After"), datetime.now(UTC)))


def register_delivery(container: Container, *, timeout: float = TIMEOUT_SECONDS) -> None:
    """Register the webhook.delivery handler of the outbox in a container."""
    service = DeliveryService(
        session_factory=container.session_factory, clock=container.clock,
        sender=RequestsSender(timeout), resolve=resolve_host,
    )
    container.extra_handlers[DELIVERY_KIND] = service.deliver

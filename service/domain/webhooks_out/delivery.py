"""Delivering one queued webhook: sign, send to the checked address, record the attempt, retry.

Deliveries are signed per Standard Webhooks by the adapter the composition root passes in
(webhooks.outbound); a delivery keeps its webhook-id and body across retries.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker

from service.domain.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from service.domain.outbox import ClaimedItem
from service.domain.outbox_worker import RetryLater
from service.domain.ports import Clock
from service.domain.webhooks_out.targets import TargetRefused, check_target

log = logging.getLogger("consent.webhooks")

DELIVERY_KIND = "webhook.delivery"
# Waits after each failed attempt: about three days in all, then the delivery is given up.
RETRY_SCHEDULE = (
    timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
    timedelta(hours=5), timedelta(hours=10), timedelta(hours=14), timedelta(hours=20),
    timedelta(hours=24),
)
MAX_RETRY_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class Reply:
    """What an endpoint answered."""

    status_code: int
    retry_after: timedelta | None = None


class Unreachable(Exception):
    """The endpoint did not answer in time or refused the connection."""


class WebhookSender(Protocol):
    """Sign and POST one delivery; the adapter lives in webhooks/."""

    def send(self, url: str, message_id: str, timestamp: int, body: bytes,
             secrets: Sequence[str], *, addresses: Sequence[str]) -> Reply:
        """POST the body with Standard Webhooks headers; raise Unreachable when no answer.

        Connect only to addresses (those the SSRF policy checked), never to what the host
        resolves to by then; TLS is still verified against the URL's host name.
        """
        ...


class Resolver(Protocol):
    """Look up the addresses a host name resolves to."""

    def __call__(self, host: str) -> Sequence[str]:
        """Return the IP addresses of host (empty when it does not resolve)."""
        ...


def next_wait(attempts: int, rng: random.Random | None = None) -> timedelta | None:
    """Return the wait after the n-th failed attempt (jittered), or None to give up."""
    if attempts > len(RETRY_SCHEDULE):
        return None
    base = RETRY_SCHEDULE[attempts - 1].total_seconds()
    return timedelta(seconds=base * (rng or random).uniform(0.8, 1.2))


@dataclass
class DeliveryService:
    """Deliver queued webhook events: sign, send, record each attempt, retry or give up."""

    session_factory: sessionmaker[Session]
    clock: Clock
    sender: WebhookSender
    resolve: Resolver
    rng: random.Random = field(default_factory=random.Random)

    def deliver(self, item: ClaimedItem) -> None:
        """Handle one outbox item; raise RetryLater to be called again later."""
        delivery_id = int(item.payload["delivery_id"])
        with self.session_factory() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None or delivery.status == "delivered":
                return
            endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
            if endpoint is None or endpoint.disabled_at is not None:
                delivery.status = "skipped"
                session.commit()
                return
            url, allow_private = endpoint.url, endpoint.allow_private
            keys = endpoint.secrets.split()
            message_id, body = delivery.message_id, delivery.payload_json.encode("utf-8")
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        retry_after: timedelta | None = None
        refused = False
        try:
            # Resolved once: the sender connects to the addresses checked here, so a name that
            # answers differently a moment later (DNS rebinding) cannot steer the POST.
            host = urlsplit(url).hostname or ""
            addresses = list(self.resolve(host))
            if not addresses:
                raise Unreachable(f"{host} does not resolve")
            check_target(url, addresses, allow_private=allow_private)
            reply = self.sender.send(url, message_id, int(self.clock.now().timestamp()), body,
                                     keys, addresses=addresses)
            status, retry_after = reply.status_code, reply.retry_after
        except TargetRefused as exc:
            error, refused = f"refused: {exc}", True
        except Unreachable as exc:
            error = str(exc) or "no answer"
        elapsed = int((time.monotonic() - started) * 1000)
        self._record(delivery_id, status, error, elapsed, refused=refused,
                     retry_after=retry_after)

    def _record(self, delivery_id: int, status: int | None, error: str | None, elapsed: int,
                *, refused: bool, retry_after: timedelta | None) -> None:
        now = self.clock.now()
        wait: timedelta | None = None
        with self.session_factory() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                return
            delivery.attempts += 1
            session.add(WebhookAttempt(delivery_id=delivery_id, attempted_at=now,
                                       status_code=status, error=error[:500] if error else None,
                                       duration_ms=elapsed))
            if status is not None and 200 <= status < 300:
                delivery.status, delivery.delivered_at = "delivered", now
            elif status == 410:
                endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
                if endpoint is not None and endpoint.disabled_at is None:
                    endpoint.disabled_at = now
                    endpoint.disabled_reason = "the endpoint answered 410 Gone"
                    log.warning("webhook endpoint %s answered 410: disabled", endpoint.id)
                delivery.status = "failed"
            elif refused:
                # The address is not allowed; retrying would not change that.
                delivery.status = "failed"
            else:
                wait = next_wait(delivery.attempts, self.rng)
                if wait is not None and status in (429, 502, 503, 504) and retry_after:
                    wait = min(retry_after, MAX_RETRY_AFTER)
                if wait is None:
                    delivery.status = "failed"
            session.commit()
        if wait is not None:
            raise RetryLater(f"endpoint answered {status}" if status else (error or "failed"),
                             wait)

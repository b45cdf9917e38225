"""Outbound consent events: endpoints, what each event says, and how deliveries are retried.

Every consent change enqueues, in the transaction that made it, one delivery per endpoint that
wants its event type. The body (documented in the README) names the contact by its public id
only; an endpoint registered with include_personal_data also gets the address, name and phone.
Deliveries are signed per Standard Webhooks by the adapter the composition root passes in.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import random
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from service.domain import audit, outbox
from service.domain.actors import Actor
from service.domain.models import (
    ActorType,
    ConsentEvent,
    Contact,
    EventKind,
    Subscription,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from service.domain.outbox import ClaimedItem
from service.domain.ports import Clock
from service.domain.uow import UnitOfWork
from service.domain.work import RetryLater

log = logging.getLogger("consent.webhooks")

DELIVERY_KIND = "webhook.delivery"
EVENT_TYPES = (
    "consent.requested", "consent.confirmed", "consent.granted", "consent.withdrawn",
    "address.bounced", "contact.updated", "contact.erased",
)
TYPE_OF_KIND = {
    EventKind.REQUESTED.value: "consent.requested",
    EventKind.CONFIRMED.value: "consent.confirmed",
    EventKind.GRANTED.value: "consent.granted",
    EventKind.WITHDRAWN.value: "consent.withdrawn",
    # A spam complaint withdraws consent; data.kind says it was a complaint.
    EventKind.COMPLAINED.value: "consent.withdrawn",
    EventKind.BOUNCED.value: "address.bounced",
}
# Waits after each failed attempt: about three days in all, then the delivery is given up.
RETRY_SCHEDULE = (
    timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
    timedelta(hours=5), timedelta(hours=10), timedelta(hours=14), timedelta(hours=20),
    timedelta(hours=24),
)
MAX_RETRY_AFTER = timedelta(hours=24)
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every secret, not a secret


def _audit(session: Session, actor: Actor | None, action: str, detail: dict[str, Any], *,
           now: datetime, ip: str | None) -> None:
    """Log an admin change (the `consent webhook` command acts as the system's cli)."""
    audit.append(session, actor or Actor(ActorType.SYSTEM, "cli"), action, ip=ip,
                 detail=detail, now=now)


class EndpointProblem(Exception):
    """An endpoint cannot be added or used as asked; the message says why."""


class TargetRefused(EndpointProblem):
    """The endpoint's address is loopback, link-local or private and that was not allowed."""


# --- SSRF policy ------------------------------------------------------------------------

# IPv6 forms that carry an IPv4 address the packets end up at: judged by that address, or
# 2002:7f00:1:: (6to4 of 127.0.0.1) would pass as a global IPv6 address.
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """Return the IPv4 addresses an IPv6 address stands for (mapped, 6to4, Teredo, NAT64)."""
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if ip.teredo is not None:
        return ip.teredo  # (server, client): both are reached on the way
    last32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in NAT64_WELL_KNOWN:
        return (last32,)
    if ip in IPV4_COMPATIBLE and int(ip) > 1:  # :: and ::1 are themselves
        return (last32,)
    return ()


def _reason_v4_or_v6(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return "reserved"
    if ip.is_private or not ip.is_global:
        return "private"
    return None


def refusal_reason(address: str) -> str | None:
    """Say why an IP address is no place to send events to unless allowed (None: public)."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in NAT64_LOCAL_USE:
            return "private"  # a network-specific translator: what it reaches is local
        carried = embedded_ipv4(ip)
        if carried:
            reasons = [_reason_v4_or_v6(v4) for v4 in carried]
            return next((r for r in reasons if r), None)
    return _reason_v4_or_v6(ip)


def check_target(url: str, addresses: Sequence[str], *, allow_private: bool) -> None:
    """Refuse a target that resolves to any non-public address, unless the admin allowed it."""
    if allow_private:
        return
    if not addresses:
        raise TargetRefused(f"{urlsplit(url).hostname} does not resolve")
    for address in addresses:
        reason = refusal_reason(address)
        if reason:
            raise TargetRefused(
                f"{urlsplit(url).hostname} resolves to a {reason} address ({address}); "
                "add the endpoint with --allow-private if that is intended"
            )


def validate_url(url: str) -> str:
    """Return a usable endpoint URL (http or https with a host, no credentials)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointProblem("the endpoint must be an http(s) URL such as https://crm.example.fi/hook")
    if parts.username or parts.password:
        raise EndpointProblem("put no credentials in the endpoint URL; deliveries are signed")
    if len(url) > 2000:
        raise EndpointProblem("the endpoint URL is longer than 2000 characters")
    return url.strip()


# --- endpoints ----------------------------------------------------------------------------


def new_secret() -> str:
    """Return a fresh Standard Webhooks secret: whsec_ and 32 random bytes in base64."""
    import base64

    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


@dataclass(frozen=True)
class EndpointInfo:
    """An endpoint as an admin sees it (secrets not included)."""

    id: int
    url: str
    events: tuple[str, ...]
    allow_private: bool
    include_personal_data: bool
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None
    secret_count: int


def _info(row: WebhookEndpoint) -> EndpointInfo:
    return EndpointInfo(
        id=row.id, url=row.url, events=tuple(e for e in row.events.split(",") if e),
        allow_private=row.allow_private, include_personal_data=row.include_personal_data,
        created_at=row.created_at, disabled_at=row.disabled_at,
        disabled_reason=row.disabled_reason, secret_count=len(row.secrets.split()),
    )


def parse_events(raw: Sequence[str]) -> tuple[str, ...]:
    """Read event types (comma-separated or repeated; "all" for every type)."""
    chosen: list[str] = []
    for item in raw:
        for name in (n.strip() for n in item.split(",")):
            if not name:
                continue
            if name == "all":
                chosen.extend(EVENT_TYPES)
            elif name in EVENT_TYPES:
                chosen.append(name)
            else:
                raise EndpointProblem(f"unknown event {name!r}; one of {', '.join(EVENT_TYPES)}")
    if not chosen:
        raise EndpointProblem(f"name at least one event: {', '.join(EVENT_TYPES)} or all")
    return tuple(dict.fromkeys(chosen))


def add_endpoint(
    uow: UnitOfWork,
    url: str,
    events: Sequence[str],
    *,
    now: datetime,
    resolve: Callable[[str], Sequence[str]],
    allow_private: bool = False,
    include_personal_data: bool = False,
    actor: Actor | None = None,
    ip: str | None = None,
) -> tuple[EndpointInfo, str]:
    """Register an endpoint after checking where it points; return it with its secret."""
    clean = validate_url(url)
    chosen = parse_events(events)
    host = urlsplit(clean).hostname or ""
    check_target(clean, resolve(host), allow_private=allow_private)
    secret = new_secret()
    with uow:
        row = WebhookEndpoint(
            url=clean, events=",".join(chosen), secrets=secret, allow_private=allow_private,
            include_personal_data=include_personal_data, created_at=now,
        )
        uow.session.add(row)
        uow.session.flush()
        info = _info(row)
        _audit(uow.session, actor, "webhook.add",
               {"endpoint": row.id, "events": list(chosen), "allow_private": allow_private,
                "include_personal_data": include_personal_data}, now=now, ip=ip)
        uow.commit()
    return info, secret


def list_endpoints(uow: UnitOfWork) -> list[EndpointInfo]:
    """Return every endpoint, newest last."""
    with uow:
        return [_info(r) for r in uow.session.scalars(
            select(WebhookEndpoint).order_by(WebhookEndpoint.id))]


def _endpoint(session: Session, endpoint_id: int, *, lock: bool = False) -> WebhookEndpoint:
    row = session.get(WebhookEndpoint, endpoint_id, with_for_update=lock)
    if row is None:
        raise EndpointProblem(f"no endpoint with id {endpoint_id}")
    return row


def get_endpoint(uow: UnitOfWork, endpoint_id: int) -> EndpointInfo:
    """Return one endpoint as an admin sees it."""
    with uow:
        return _info(_endpoint(uow.session, endpoint_id))


def remove_endpoint(uow: UnitOfWork, endpoint_id: int, *, now: datetime,
                    actor: Actor | None = None, ip: str | None = None) -> EndpointInfo:
    """Stop sending to an endpoint (its delivery history stays for the admin)."""
    return set_enabled(uow, endpoint_id, False, now=now, actor=actor, ip=ip,
                       reason="removed by an admin")


def set_enabled(uow: UnitOfWork, endpoint_id: int, enabled: bool, *, now: datetime,
                actor: Actor | None = None, ip: str | None = None,
                reason: str = "disabled by an admin") -> EndpointInfo:
    """Stop or resume sending to an endpoint; deliveries queued meanwhile are skipped."""
    with uow:
        row = _endpoint(uow.session, endpoint_id, lock=True)
        if enabled and row.disabled_at is not None:
            row.disabled_at = row.disabled_reason = None
            _audit(uow.session, actor, "webhook.enable", {"endpoint": row.id}, now=now, ip=ip)
        elif not enabled and row.disabled_at is None:
            row.disabled_at, row.disabled_reason = now, reason
            _audit(uow.session, actor, "webhook.disable", {"endpoint": row.id}, now=now, ip=ip)
        info = _info(row)
        uow.commit()
    return info


def delete_endpoint(uow: UnitOfWork, endpoint_id: int, *, now: datetime,
                    actor: Actor | None = None, ip: str | None = None) -> EndpointInfo:
    """Delete an endpoint with its deliveries and their attempts (queued ones are dropped)."""
    with uow:
        session = uow.session
        row = _endpoint(session, endpoint_id, lock=True)
        info = _info(row)
        deliveries = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == row.id)
        session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
        session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == row.id))
        session.delete(row)
        _audit(session, actor, "webhook.delete", {"endpoint": info.id}, now=now, ip=ip)
        uow.commit()
    return info


def rotate_secret(uow: UnitOfWork, endpoint_id: int, *, now: datetime, drop_old: bool = False,
                  actor: Actor | None = None, ip: str | None = None) -> str:
    """Add a new signing secret (both sign until the old one is dropped); return it."""
    secret = new_secret()
    with uow:
        row = _endpoint(uow.session, endpoint_id, lock=True)
        row.secrets = secret if drop_old else f"{row.secrets.split()[-1]} {secret}"
        _audit(uow.session, actor, "webhook.rotate", {"endpoint": row.id, "drop_old": drop_old},
               now=now, ip=ip)
        uow.commit()
    return secret


# --- events -------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _personal(contact: Contact) -> dict[str, Any]:
    return {"email": contact.email, "name": contact.name, "phone": contact.phone}


class _Wanting(NamedTuple):
    """What queueing an event needs of an endpoint that wants it."""

    id: int
    include_personal_data: bool


_ENABLED_ENDPOINTS = select(
    WebhookEndpoint.id, WebhookEndpoint.events, WebhookEndpoint.include_personal_data
).where(WebhookEndpoint.disabled_at.is_(None))


def _wanting(session: Session, event_type: str) -> list[_Wanting]:
    # Runs for every consent event, mostly finding none: plain columns, no ORM objects to build.
    return [
        _Wanting(row.id, row.include_personal_data)
        for row in session.execute(_ENABLED_ENDPOINTS)
        if event_type in row.events.split(",")
    ]


def _enqueue(
    session: Session, endpoint: _Wanting, event_type: str, contact_public_id: str | None,
    data: dict[str, Any], *, now: datetime,
) -> None:
    message_id = f"msg_{uuid.uuid4().hex}"
    body = {"type": event_type, "timestamp": _iso(now), "data": data}
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id, message_id=message_id, event_type=event_type,
        contact_public_id=contact_public_id,
        payload_json=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status="pending", attempts=0, created_at=now,
    )
    session.add(delivery)
    session.flush()
    outbox.enqueue(session, DELIVERY_KIND, f"webhook:{delivery.id}", {"delivery_id": delivery.id},
                   now=now)


def consent_changed(
    session: Session, contact: Contact, event: ConsentEvent, *, now: datetime
) -> None:
    """Queue the consent event for every endpoint that wants it (called by ledger.record)."""
    event_type = TYPE_OF_KIND.get(event.kind)
    if event_type is None:
        return
    endpoints = _wanting(session, event_type)
    if not endpoints:
        return
    sub = session.get(Subscription, (contact.id, event.channel))
    data: dict[str, Any] = {
        "contact_id": contact.public_id, "channel": event.channel, "kind": event.kind,
        "method": event.method, "source": event.source, "notice_version": event.notice_version,
        "occurred_at": _iso(event.occurred_at),
        "state": sub.state if sub is not None else None,
    }
    if event_type == "address.bounced":
        data["undeliverable"] = contact.email_undeliverable_at is not None
    for endpoint in endpoints:
        extra = _personal(contact) if endpoint.include_personal_data else {}
        _enqueue(session, endpoint, event_type, contact.public_id, {**data, **extra}, now=now)


def contact_updated(
    session: Session, contact: Contact, changed_fields: Sequence[str], *, now: datetime
) -> None:
    """Queue contact.updated after staff correct a contact (call it in the same transaction)."""
    for endpoint in _wanting(session, "contact.updated"):
        data: dict[str, Any] = {"contact_id": contact.public_id, "fields": list(changed_fields),
                                "updated_at": _iso(now)}
        if endpoint.include_personal_data:
            data.update(_personal(contact))
        _enqueue(session, endpoint, "contact.updated", contact.public_id, data, now=now)


def contact_erased(session: Session, contact_public_id: str, *, now: datetime) -> None:
    """Scrub the contact's personal data from queued bodies and queue contact.erased.

    Call it in the erasure's transaction; contact.erased carries the public id only.
    """
    pending = session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.contact_public_id == contact_public_id)
    )
    for delivery in pending:
        body = json.loads(delivery.payload_json)
        data = body.get("data", {})
        if any(k in data for k in ("email", "name", "phone")):
            for key in ("email", "name", "phone"):
                data.pop(key, None)
            delivery.payload_json = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    for endpoint in _wanting(session, "contact.erased"):
        _enqueue(session, endpoint, "contact.erased", contact_public_id,
                 {"contact_id": contact_public_id, "erased_at": _iso(now)}, now=now)


# --- delivering -----------------------------------------------------------------------------


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


# --- what admins see and do -------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptInfo:
    """One attempt at a delivery."""

    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True)
class DeliveryInfo:
    """One delivery with its attempts, for the admin."""

    id: int
    endpoint_id: int
    message_id: str
    event_type: str
    status: str
    created_at: datetime
    delivered_at: datetime | None
    attempts: tuple[AttemptInfo, ...]


def _delivery_info(session: Session, row: WebhookDelivery) -> DeliveryInfo:
    attempts = session.scalars(select(WebhookAttempt).where(
        WebhookAttempt.delivery_id == row.id).order_by(WebhookAttempt.id))
    return DeliveryInfo(
        id=row.id, endpoint_id=row.endpoint_id, message_id=row.message_id,
        event_type=row.event_type, status=row.status, created_at=row.created_at,
        delivered_at=row.delivered_at,
        attempts=tuple(AttemptInfo(a.attempted_at, a.status_code, a.error, a.duration_ms)
                       for a in attempts),
    )


def list_deliveries(
    uow: UnitOfWork, *, endpoint_id: int | None = None, limit: int = 50
) -> list[DeliveryInfo]:
    """Return the newest deliveries (of one endpoint, or all) with their attempts."""
    with uow:
        query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
        if endpoint_id is not None:
            query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
        return [_delivery_info(uow.session, row) for row in uow.session.scalars(query)]


def redeliver(uow: UnitOfWork, delivery_id: int, *, now: datetime, actor: Actor | None = None,
              ip: str | None = None) -> DeliveryInfo:
    """Queue a delivery again now, with the same webhook-id and body."""
    with uow:
        session = uow.session
        row = session.get(WebhookDelivery, delivery_id)
        if row is None:
            raise EndpointProblem(f"no delivery with id {delivery_id}")
        endpoint = _endpoint(session, row.endpoint_id)
        if endpoint.disabled_at is not None:
            raise EndpointProblem(
                f"endpoint {endpoint.id} is disabled ({endpoint.disabled_reason}); add it again"
            )
        row.status = "pending"
        outbox.enqueue(session, DELIVERY_KIND, f"webhook:{row.id}:again:{now.isoformat()}",
                       {"delivery_id": row.id}, now=now)
        _audit(session, actor, "webhook.redeliver", {"endpoint": endpoint.id, "delivery": row.id},
               now=now, ip=ip)
        session.flush()
        info = _delivery_info(session, row)
        uow.commit()
    return info

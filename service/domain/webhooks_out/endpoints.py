"""Administering outbound endpoints: add one after checking where it points, list, disable,
delete, and rotate the secrets deliveries are signed with. Every change is audited."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.domain import audit
from service.domain.actors import Actor
from service.domain.models import ActorType, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from service.domain.uow import UnitOfWork
from service.domain.webhooks_out.emission import EVENT_TYPES
from service.domain.webhooks_out.targets import EndpointProblem, check_target, validate_url

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every secret, not a secret


def audit_admin_change(session: Session, actor: Actor | None, action: str,
                       detail: dict[str, Any], *, now: datetime, ip: str | None) -> None:
    """Log an admin change (the `consent webhook` command acts as the system's cli)."""
    audit.append(session, actor or Actor(ActorType.SYSTEM, "cli"), action, ip=ip,
                 detail=detail, now=now)


def new_secret() -> str:
    """Return a fresh Standard Webhooks secret: whsec_ and 32 random bytes in base64."""
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
        audit_admin_change(uow.session, actor, "webhook.add",
               {"endpoint": row.id, "events": list(chosen), "allow_private": allow_private,
                "include_personal_data": include_personal_data}, now=now, ip=ip)
        uow.commit()
    return info, secret


def list_endpoints(uow: UnitOfWork) -> list[EndpointInfo]:
    """Return every endpoint, newest last."""
    with uow:
        return [_info(r) for r in uow.session.scalars(
            select(WebhookEndpoint).order_by(WebhookEndpoint.id))]


def endpoint_row(session: Session, endpoint_id: int, *, lock: bool = False) -> WebhookEndpoint:
    """Return one endpoint's row, or refuse with EndpointProblem when there is none."""
    row = session.get(WebhookEndpoint, endpoint_id, with_for_update=lock)
    if row is None:
        raise EndpointProblem(f"no endpoint with id {endpoint_id}")
    return row


def get_endpoint(uow: UnitOfWork, endpoint_id: int) -> EndpointInfo:
    """Return one endpoint as an admin sees it."""
    with uow:
        return _info(endpoint_row(uow.session, endpoint_id))


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
        row = endpoint_row(uow.session, endpoint_id, lock=True)
        if enabled and row.disabled_at is not None:
            row.disabled_at = row.disabled_reason = None
            audit_admin_change(uow.session, actor, "webhook.enable", {"endpoint": row.id},
                               now=now, ip=ip)
        elif not enabled and row.disabled_at is None:
            row.disabled_at, row.disabled_reason = now, reason
            audit_admin_change(uow.session, actor, "webhook.disable", {"endpoint": row.id},
                               now=now, ip=ip)
        info = _info(row)
        uow.commit()
    return info


def delete_endpoint(uow: UnitOfWork, endpoint_id: int, *, now: datetime,
                    actor: Actor | None = None, ip: str | None = None) -> EndpointInfo:
    """Delete an endpoint with its deliveries and their attempts (queued ones are dropped)."""
    with uow:
        session = uow.session
        row = endpoint_row(session, endpoint_id, lock=True)
        info = _info(row)
        deliveries = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == row.id)
        session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
        session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == row.id))
        session.delete(row)
        audit_admin_change(session, actor, "webhook.delete", {"endpoint": info.id}, now=now, ip=ip)
        uow.commit()
    return info


def rotate_secret(uow: UnitOfWork, endpoint_id: int, *, now: datetime, drop_old: bool = False,
                  actor: Actor | None = None, ip: str | None = None) -> str:
    """Add a new signing secret (both sign until the old one is dropped); return it."""
    secret = new_secret()
    with uow:
        row = endpoint_row(uow.session, endpoint_id, lock=True)
        row.secrets = secret if drop_old else f"{row.secrets.split()[-1]} {secret}"
        audit_admin_change(uow.session, actor, "webhook.rotate",
                           {"endpoint": row.id, "drop_old": drop_old}, now=now, ip=ip)
        uow.commit()
    return secret

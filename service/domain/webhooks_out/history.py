"""The delivery history an admin sees (each delivery with its attempts), and redelivering one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain import outbox
from service.domain.actors import Actor
from service.domain.models import WebhookAttempt, WebhookDelivery
from service.domain.uow import UnitOfWork
from service.domain.webhooks_out.delivery import DELIVERY_KIND
from service.domain.webhooks_out.endpoints import audit_admin_change, endpoint_row
from service.domain.webhooks_out.targets import EndpointProblem


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
        endpoint = endpoint_row(session, row.endpoint_id)
        if endpoint.disabled_at is not None:
            raise EndpointProblem(
                f"endpoint {endpoint.id} is disabled ({endpoint.disabled_reason}); add it again"
            )
        row.status = "pending"
        outbox.enqueue(session, DELIVERY_KIND, f"webhook:{row.id}:again:{now.isoformat()}",
                       {"delivery_id": row.id}, now=now)
        audit_admin_change(session, actor, "webhook.redeliver",
                           {"endpoint": endpoint.id, "delivery": row.id}, now=now, ip=ip)
        session.flush()
        info = _delivery_info(session, row)
        uow.commit()
    return info

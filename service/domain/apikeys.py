"""API keys: long random secrets handed out once and kept only as SHA-256 hashes."""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.domain import audit
from service.domain.ledger import Actor
from service.domain.models import ActorType, ApiKey, AuditEntry
from service.domain.normalize import FieldProblem, InvalidInput, whole_number
from service.domain.uow import UnitOfWork

KEY_PREFIX = "crk_"
# 32 random bytes: far beyond guessing, so a fast hash (not a password hash) is enough.
KEY_BYTES = 32
MAX_NAME = 100
# Refused calls from one IP with one presented key (or none, or an unknown one) leave at most
# one audit row in this time: anyone may send refused calls, and the audit log is append-only
# (no counter can be kept in place), so without this an unauthenticated caller could grow it
# without bound. The web layer also throttles refused calls per IP.
REFUSAL_AUDIT_INTERVAL = timedelta(minutes=1)


class Role(enum.StrEnum):
    """What a key may do; staff may do everything a reader may."""

    READER = "reader"
    STAFF = "staff"


RANK = {Role.READER: 1, Role.STAFF: 2}


class NotAuthenticated(Exception):
    """No key, or a key nobody issued: the caller is not known (401)."""


class NotAllowed(Exception):
    """A known key that is revoked or whose role is too low (403)."""

    def __init__(self, reason: str) -> None:
        """Keep why: revoked or role."""
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a key: never the key itself."""

    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def actor(self) -> Actor:
        """Return the key as the actor of events and audit entries."""
        return Actor(ActorType.API_KEY, f"{self.id}:{self.name}"[:100])


@dataclass(frozen=True)
class IssuedKey:
    """A new key: the secret is shown once and never stored."""

    info: KeyInfo
    secret: str


def hash_key(secret: str) -> str:
    """Return the SHA-256 hex digest a key is stored and looked up by."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(row.id, row.name, row.role, row.prefix, row.created_at, row.revoked_at,
                   row.last_used_at)


def _parse_role(raw: str) -> Role:
    try:
        return Role(raw.strip().lower())
    except ValueError:
        raise InvalidInput([FieldProblem("role", "must be reader or staff",
                                          "role_unknown")]) from None


def create_key(uow: UnitOfWork, name: str, role: str, *, now: datetime,
               actor: Actor | None = None, ip: str | None = None) -> IssuedKey:
    """Issue a key under a new name; the secret is returned once."""
    clean = " ".join(name.split())
    if not clean or len(clean) > MAX_NAME:
        raise InvalidInput([FieldProblem("name", f"must be 1 to {MAX_NAME} characters",
                                          "name_length", MAX_NAME)])
    if clean.isdigit():
        raise InvalidInput([FieldProblem("name", "must not be a number (numbers are key ids)",
                                          "name_is_number")])
    chosen = _parse_role(role)
    secret = KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
    with uow:
        row = ApiKey(name=clean, role=chosen.value, key_hash=hash_key(secret),
                     prefix=secret[:10], created_at=now)
        uow.session.add(row)
        try:
            uow.session.flush()
        except IntegrityError:
            raise InvalidInput(
                [FieldProblem("name", f"a key named {clean!r} exists already", "key_name_taken")]
            ) from None
        audit.append(uow.session, actor or Actor(ActorType.SYSTEM, "cli"), "apikey.create",
                     ip=ip, detail={"key": row.id, "role": chosen.value}, now=now)
        info = _info(row)
        uow.commit()
    return IssuedKey(info, secret)


def list_keys(uow: UnitOfWork) -> list[KeyInfo]:
    """Return every key, revoked ones included, oldest first."""
    with uow:
        return [_info(r) for r in uow.session.scalars(select(ApiKey).order_by(ApiKey.id))]


def get_key(uow: UnitOfWork, key_id: int) -> KeyInfo | None:
    """Return a key by id, revoked or not (never the key itself), or None."""
    with uow:
        row = uow.session.get(ApiKey, key_id)
        return _info(row) if row is not None else None


def revoke_key(uow: UnitOfWork, name_or_id: str, *, now: datetime,
               actor: Actor | None = None, ip: str | None = None) -> KeyInfo:
    """Revoke a key by name or id; revoking twice keeps the first time."""
    with uow:
        query = select(ApiKey).where(ApiKey.name == " ".join(name_or_id.split()))
        row = uow.session.scalars(query.with_for_update()).first()
        key_id = whole_number(name_or_id)
        if row is None and key_id is not None:
            row = uow.session.get(ApiKey, key_id, with_for_update=True)
        if row is None:
            raise InvalidInput([FieldProblem("key", f"no key is named or numbered {name_or_id!r}",
                                              "key_unknown")])
        if row.revoked_at is None:
            row.revoked_at = now
            audit.append(uow.session, actor or Actor(ActorType.SYSTEM, "cli"), "apikey.revoke",
                         ip=ip, detail={"key": row.id}, now=now)
        info = _info(row)
        uow.commit()
    return info


def bearer_secret(authorization: str | None) -> str | None:
    """Return the key from an `Authorization: Bearer <key>` header value, if any."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _audit_refusal(session: Session, actor: Actor, *, ip: str | None, action: str, why: str,
                   now: datetime) -> None:
    """Audit a refused call unless this IP's refusals under this key were audited just now."""
    recent = session.scalar(
        select(AuditEntry.id).where(
            AuditEntry.occurred_at > now - REFUSAL_AUDIT_INTERVAL,
            AuditEntry.action == "api.denied",
            AuditEntry.ip.is_not_distinct_from(ip),
            AuditEntry.actor_id.is_not_distinct_from(actor.id),
        ).limit(1)
    )
    if recent is None:
        audit.append(session, actor, "api.denied", ip=ip, detail={"action": action, "why": why},
                     now=now)


def authorize(
    uow: UnitOfWork,
    secret: str | None,
    needed: Role,
    *,
    now: datetime,
    ip: str | None,
    action: str,
    detail: Mapping[str, Any] | None = None,
    audit_success: bool = True,
) -> KeyInfo:
    """Check a presented key for a role and audit the attempt, allowed or not.

    Refusals are audited at most once a minute per IP and presented key (see
    REFUSAL_AUDIT_INTERVAL).
    """
    with uow:
        session = uow.session
        row = None
        if secret:
            candidate = hash_key(secret)
            row = session.scalars(select(ApiKey).where(ApiKey.key_hash == candidate)).first()
            # The lookup is by hash; comparing again in constant time costs nothing.
            if row is not None and not hmac.compare_digest(row.key_hash, candidate):
                row = None
        if row is None:
            _audit_refusal(session, Actor(ActorType.API_KEY), ip=ip, action=action,
                           why="unknown key" if secret else "no key", now=now)
            uow.commit()
            raise NotAuthenticated()
        info = _info(row)
        refusal = None
        if row.revoked_at is not None:
            refusal = "revoked"
        elif RANK[Role(row.role)] < RANK[needed]:
            refusal = "role"
        if refusal is not None:
            _audit_refusal(session, info.actor, ip=ip, action=action, why=refusal, now=now)
            uow.commit()
            raise NotAllowed(refusal)
        row.last_used_at = now
        if audit_success:
            audit.append(session, info.actor, action, ip=ip, detail=detail, now=now)
        uow.commit()
    return info

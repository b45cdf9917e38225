"""The tables of the consent ledger, typed with SQLAlchemy 2."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Store UTC to the microsecond on every backend; always hand back aware datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to naive UTC for SQLite, aware UTC elsewhere."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; the ledger only stores aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base of every table."""


class SubscriptionState(enum.StrEnum):
    """Where one contact stands on one channel."""

    PENDING = "pending"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"


class EventKind(enum.StrEnum):
    """What happened to a consent."""

    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class Method(enum.StrEnum):
    """How a consent event came about."""

    WEB_FORM = "web_form"
    FORM_WEBHOOK = "form_webhook"
    VERBAL_IN_PERSON = "verbal_in_person"
    VERBAL_PHONE = "verbal_phone"
    IMPORT = "import"
    UNSUBSCRIBE_PAGE = "unsubscribe_page"
    ONE_CLICK = "one_click"
    STAFF_ON_REQUEST = "staff_on_request"
    PROVIDER_BOUNCE = "provider_bounce"
    PROVIDER_COMPLAINT = "provider_complaint"
    # The person unsubscribed through the mail provider's own link (or was suppressed there).
    PROVIDER_UNSUBSCRIBE = "provider_unsubscribe"
    CONFIRMATION_LINK = "confirmation_link"
    UNDO_LINK = "undo_link"
    RECEIPT_DISPUTE = "receipt_dispute"
    API = "api"


class ActorType(enum.StrEnum):
    """Who caused an event."""

    PERSON = "person"
    STAFF = "staff"
    API_KEY = "api_key"
    SYSTEM = "system"
    PROVIDER = "provider"


class OutboxStatus(enum.StrEnum):
    """Where a queued side effect stands."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


class Contact(Base):
    """One person; personal data lives here and in Evidence only."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    email_key: Mapped[str | None] = mapped_column(String(254), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    language: Mapped[str] = mapped_column(String(2))
    email_undeliverable_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    soft_bounces: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    flagged_reason: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Subscription(Base):
    """The current state of one contact on one channel, kept in step with the ledger."""

    __tablename__ = "subscriptions"

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(10), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    method: Mapped[str] = mapped_column(String(30))
    notice_version: Mapped[int | None] = mapped_column(Integer)
    witness: Mapped[str | None] = mapped_column(String(100))
    last_event_id: Mapped[int | None] = mapped_column(BigId)
    confirmation_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_subscriptions_state_channel", "state", "channel"),)


class Notice(Base):
    """The exact words a person agreed to, one row per version and language."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(2))
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("version", "language", name="uq_notices_version_language"),)


class ConsentEvent(Base):
    """One append-only change in the ledger; holds no personal data."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(30))
    source: Mapped[str | None] = mapped_column(String(100))
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(String(100))
    notice_version: Mapped[int | None] = mapped_column(Integer)
    notice_language: Mapped[str | None] = mapped_column(String(2))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Evidence(Base):
    """What proves one event; personal data, so erasure deletes it and retention trims it."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("consent_events.id"), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    ip: Mapped[str | None] = mapped_column(String(45))
    source_ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    page_url: Mapped[str | None] = mapped_column(String(2000))
    fields_json: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """One append-only record of who did what to which contact."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    contact_public_id: Mapped[str | None] = mapped_column(String(36), index=True)
    ip: Mapped[str | None] = mapped_column(String(45))
    detail_json: Mapped[str | None] = mapped_column(Text)


class OutboxItem(Base):
    """A side effect recorded with the change that caused it, delivered at least once."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    coalesce_key: Mapped[str | None] = mapped_column(String(200))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    payload_json: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_outbox_due", "status", "not_before"),
        Index(
            "uq_outbox_pending_coalesce",
            "coalesce_key",
            unique=True,
            postgresql_where=text("status = 'pending' AND coalesce_key IS NOT NULL"),
            sqlite_where=text("status = 'pending' AND coalesce_key IS NOT NULL"),
        ),
    )


class ErasedAddress(Base):
    """A keyed hash of an erased address, so an import cannot bring it back."""

    __tablename__ = "erased_addresses"

    address_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ServiceState(Base):
    """Small named values the service keeps about itself (mirror health, key material)."""

    __tablename__ = "service_state"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


def utcnow() -> datetime:
    """Return the current time, aware UTC."""
    return datetime.now(UTC)



class ApiKey(Base):
    """A key another system presents to the API; only its SHA-256 hash is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StaffAccount(Base):
    """A person who signs in to the staff pages; only an argon2 hash of the password is kept."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The last TOTP time step accepted: a code cannot be used twice.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    recovery_codes_json: Mapped[str | None] = mapped_column(Text)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Every signed-in session carries the epoch it began in; raising it ends them all at once
    # (logout, password change, TOTP reset, disabling): cookie sessions cannot be deleted.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class ContactCorrection(Base):
    """One correction of a contact's details with the old value; personal data, erasable."""

    __tablename__ = "contact_corrections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    field: Mapped[str] = mapped_column(String(20))
    old_value: Mapped[str | None] = mapped_column(String(254))
    new_value: Mapped[str | None] = mapped_column(String(254))
    actor_id: Mapped[str | None] = mapped_column(String(100))
    corrected_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InboundSource(Base):
    """A sender of inbound webhooks: a WordPress form plugin or an email provider.

    token_hash is the SHA-256 of the random secret the sender presents (header, Basic password
    or URL); signing_secret is kept raw because a signature check needs the key itself
    (WPForms' HMAC secret, Mailgun's signing key, SendGrid's public key).
    """

    __tablename__ = "inbound_sources"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str | None] = mapped_column(String(64))
    signing_secret: Mapped[str | None] = mapped_column(Text)
    config_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InboundDelivery(Base):
    """One inbound delivery already handled, by sender and its id, so a repeat records nothing."""

    __tablename__ = "inbound_deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(80))
    delivery_key: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("scope", "delivery_key", name="uq_inbound_deliveries_scope_key"),
    )


class WebhookEndpoint(Base):
    """A URL that receives signed consent events; secrets are whsec_ values, newest last."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[str] = mapped_column(String(500))
    secrets: Mapped[str] = mapped_column(Text)
    allow_private: Mapped[bool] = mapped_column(Boolean, default=False)
    include_personal_data: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_reason: Mapped[str | None] = mapped_column(String(200))


class WebhookDelivery(Base):
    """One event for one endpoint: its webhook-id and body stay the same across retries."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    event_type: Mapped[str] = mapped_column(String(40))
    contact_public_id: Mapped[str | None] = mapped_column(String(36), index=True)
    payload_json: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookAttempt(Base):
    """One try at delivering a WebhookDelivery, for the admin to see."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[int] = mapped_column(Integer)


class MirrorDirty(Base):
    """A contact whose row in the mirror may have changed, written by database triggers.

    Triggers (migration 0005) add a row whenever a contact's shown fields or a subscription
    change, whatever code path did it; a mirror pass reads these rows before the register and
    deletes exactly the rows it read once the mirror shows them, so nothing committed
    meanwhile is lost.
    """

    __tablename__ = "mirror_dirty"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(BigId)


class ChainLink(Base):
    """One entry's place in a hash chain (consent events or the audit log); append-only.

    hash is SHA-256 over the previous link's hash and the entry's canonical content (which
    includes the chain, the position and these commitments); see service.domain.chain. The
    commitments are HMACs of the erasable parts (evidence, IP addresses), kept here so that the
    chain stays whole when those are removed.
    """

    __tablename__ = "chain_links"

    chain: Mapped[str] = mapped_column(String(10), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry_id: Mapped[int] = mapped_column(BigId)
    hash: Mapped[str] = mapped_column(String(64))
    evidence_commitment: Mapped[str | None] = mapped_column(String(64))
    ip_commitment: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("chain", "entry_id", name="uq_chain_links_entry"),)


class ChainPending(Base):
    """An event or audit entry committed and not yet chained; written by database triggers."""

    __tablename__ = "chain_pending"

    chain: Mapped[str] = mapped_column(String(10), primary_key=True)
    entry_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)


class ChainHead(Base):
    """The last link of one chain, moved on by the sealer."""

    __tablename__ = "chain_heads"

    chain: Mapped[str] = mapped_column(String(10), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class ChainCheckpoint(Base):
    """A signed checkpoint of both chains' heads, as written outside the database."""

    __tablename__ = "chain_checkpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    made_at: Mapped[datetime] = mapped_column(UTCDateTime())
    events_position: Mapped[int] = mapped_column(BigInteger)
    events_hash: Mapped[str] = mapped_column(String(64))
    audit_position: Mapped[int] = mapped_column(BigInteger)
    audit_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32))
    public_key: Mapped[str] = mapped_column(String(100))
    signature: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

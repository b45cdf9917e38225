"""The consent ledger: contacts, subscriptions, notices, events, evidence, audit log, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import hashlib
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from service.domain.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

FIRST_NOTICE = {
    "fi": (
        "Haluan vastaanottaa uutiskirjeen ja markkinointiviestejä sähköpostitse tai "
        "tekstiviestillä valitsemallani tavalla. Voin perua suostumukseni milloin tahansa "
        "jokaisen viestin peruutuslinkistä tai ottamalla yhteyttä vastaanottoon."
    ),
    "sv": (
        "Jag vill få nyhetsbrevet och marknadsföring per e-post eller sms enligt mitt val. "
        "Jag kan när som helst återkalla mitt samtycke via länken i varje meddelande eller "
        "genom att kontakta receptionen."
    ),
    "en": (
        "I would like to receive the newsletter and marketing messages by email or text "
        "message, as I choose. I can withdraw my consent at any time through the link in "
        "every message or by contacting reception."
    ),
}

APPEND_ONLY_PG = """
CREATE OR REPLACE FUNCTION consent_refuse_change() RETURNS trigger AS $$
BEGIN
    -- Retention may clear an old IP address in the audit log; nothing else may change.
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'audit_log' AND NEW.ip IS NULL
       AND (to_jsonb(NEW) - 'ip') = (to_jsonb(OLD) - 'ip') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def _refuse_pg(table: str) -> None:
    op.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION consent_refuse_change()"
    )


def _refuse_sqlite(table: str, update_guard: str = "") -> None:
    op.execute(
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END"
    )
    op.execute(
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} {update_guard}"
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END"
    )


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("public_id", sa.String(36), nullable=False, unique=True),
        sa.Column("email", sa.String(254)),
        sa.Column("email_key", sa.String(254), unique=True),
        sa.Column("name", sa.String(200)),
        sa.Column("phone", sa.String(20), index=True),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("email_undeliverable_at", UTCDateTime()),
        sa.Column("soft_bounces", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("flagged_reason", sa.String(50)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("erased_at", UTCDateTime()),
    )
    op.create_table(
        "subscriptions",
        sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id"), primary_key=True),
        sa.Column("channel", sa.String(10), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("method", sa.String(30), nullable=False),
        sa.Column("notice_version", sa.Integer),
        sa.Column("witness", sa.String(100)),
        sa.Column("last_event_id", BigId),
        sa.Column("confirmation_sent_at", UTCDateTime()),
    )
    op.create_index("ix_subscriptions_state_channel", "subscriptions", ["state", "channel"])
    notices = op.create_table(
        "notices",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("version", "language", name="uq_notices_version_language"),
    )
    op.create_table(
        "consent_events",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id"), nullable=False, index=True),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("method", sa.String(30), nullable=False),
        sa.Column("source", sa.String(100)),
        sa.Column("actor_type", sa.String(20), nullable=False),
        sa.Column("actor_id", sa.String(100)),
        sa.Column("notice_version", sa.Integer),
        sa.Column("notice_language", sa.String(2)),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "evidence",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "event_id", BigId, sa.ForeignKey("consent_events.id"), nullable=False, unique=True
        ),
        sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id"), nullable=False, index=True),
        sa.Column("ip", sa.String(45)),
        sa.Column("source_ip", sa.String(45)),
        sa.Column("user_agent", sa.String(500)),
        sa.Column("page_url", sa.String(2000)),
        sa.Column("fields_json", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("occurred_at", UTCDateTime(), nullable=False, index=True),
        sa.Column("actor_type", sa.String(20), nullable=False),
        sa.Column("actor_id", sa.String(100)),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("contact_public_id", sa.String(36), index=True),
        sa.Column("ip", sa.String(45)),
        sa.Column("detail_json", sa.Text),
    )
    op.create_table(
        "outbox",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("coalesce_key", sa.String(200)),
        sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id"), index=True),
        sa.Column("payload_json", sa.Text, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("locked_until", UTCDateTime()),
        sa.Column("done_at", UTCDateTime()),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "not_before"])
    op.create_index(
        "uq_outbox_pending_coalesce",
        "outbox",
        ["coalesce_key"],
        unique=True,
        postgresql_where=sa.text("status = 'pending' AND coalesce_key IS NOT NULL"),
        sqlite_where=sa.text("status = 'pending' AND coalesce_key IS NOT NULL"),
    )
    op.create_table(
        "erased_addresses",
        sa.Column("address_hash", sa.String(64), primary_key=True),
        sa.Column("erased_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "service_state",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )

    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_PG)
        _refuse_pg("consent_events")
        _refuse_pg("audit_log")
    else:
        _refuse_sqlite("consent_events")
        _refuse_sqlite(
            "audit_log",
            "WHEN NOT (NEW.ip IS NULL AND NEW.id = OLD.id AND NEW.occurred_at = OLD.occurred_at "
            "AND NEW.actor_type = OLD.actor_type AND NEW.actor_id IS OLD.actor_id "
            "AND NEW.action = OLD.action AND NEW.contact_public_id IS OLD.contact_public_id "
            "AND NEW.detail_json IS OLD.detail_json) ",
        )

    now = datetime.now(UTC)
    op.bulk_insert(
        notices,
        [
            {
                "version": 1,
                "language": lang,
                "text": body,
                "content_hash": hashlib.sha256(body.encode()).hexdigest(),
                "created_at": now,
            }
            for lang, body in FIRST_NOTICE.items()
        ],
    )


def downgrade() -> None:
    raise RuntimeError("the consent ledger is never downgraded; restore a backup instead")

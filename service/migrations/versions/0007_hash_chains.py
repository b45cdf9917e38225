"""Hash chains over the consent ledger and the audit log, and their signed checkpoints.

Triggers note every new event and audit entry in chain_pending, whatever code path writes it
(a process of the previous version during the upgrade included); the worker's sealer chains
them. Every event and audit entry already in the database is chained here, oldest first, so
that an installation upgraded today has a whole chain from its first entry (evidence and IP
addresses are committed to as they stand now). The links are append-only like the ledger.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

from service.domain import chain
from service.domain.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# (table, chain): whose new rows the triggers note for the sealer.
PENDING = (("consent_events", "events"), ("audit_log", "audit"))


def upgrade() -> None:
    op.create_table(
        "chain_links",
        sa.Column("chain", sa.String(10), primary_key=True),
        sa.Column("position", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("entry_id", BigId, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("evidence_commitment", sa.String(64)),
        sa.Column("ip_commitment", sa.String(64)),
        sa.UniqueConstraint("chain", "entry_id", name="uq_chain_links_entry"),
    )
    op.create_table(
        "chain_pending",
        sa.Column("chain", sa.String(10), primary_key=True),
        sa.Column("entry_id", BigId, primary_key=True, autoincrement=False),
    )
    op.create_table(
        "chain_heads",
        sa.Column("chain", sa.String(10), primary_key=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "chain_checkpoints",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("made_at", UTCDateTime(), nullable=False),
        sa.Column("events_position", sa.BigInteger(), nullable=False),
        sa.Column("events_hash", sa.String(64), nullable=False),
        sa.Column("audit_position", sa.BigInteger(), nullable=False),
        sa.Column("audit_hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("public_key", sa.String(100), nullable=False),
        sa.Column("signature", sa.String(200), nullable=False),
        sa.Column("published_at", UTCDateTime()),
    )
    if op.get_bind().dialect.name == "postgresql":
        # consent_refuse_change() is migration 0001's: it refuses every UPDATE and DELETE.
        op.execute(
            "CREATE TRIGGER chain_links_append_only BEFORE UPDATE OR DELETE ON chain_links "
            "FOR EACH ROW EXECUTE FUNCTION consent_refuse_change()"
        )
        op.execute(
            """
CREATE FUNCTION consent_chain_pending() RETURNS trigger AS $$
BEGIN
    INSERT INTO chain_pending (chain, entry_id) VALUES (TG_ARGV[0], NEW.id);
    RETURN NULL;
END $$ LANGUAGE plpgsql
"""
        )
        for table, name in PENDING:
            op.execute(
                f"CREATE TRIGGER {table}_chain_pending AFTER INSERT ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION consent_chain_pending('{name}')"
            )
    else:
        for what in ("DELETE", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER chain_links_no_{what.lower()} BEFORE {what} ON chain_links "
                f"BEGIN SELECT RAISE(ABORT, 'chain_links is append-only: {what} refused'); END"
            )
        for table, name in PENDING:
            op.execute(
                f"CREATE TRIGGER {table}_chain_pending AFTER INSERT ON {table} BEGIN "
                f"INSERT INTO chain_pending (chain, entry_id) VALUES ('{name}', NEW.id); END"
            )

    # The session joins the migration's transaction: closing it neither commits nor rolls back.
    session = Session(bind=op.get_bind(), join_transaction_mode="rollback_only")
    try:
        chain.commitment_key(session)
        while True:
            sealed = chain.seal_unlinked_batch(session, limit=5000)
            if sealed.events < 5000 and sealed.audit < 5000:
                break
    finally:
        session.close()


def downgrade() -> None:
    raise RuntimeError("the consent ledger is never downgraded; restore a backup instead")

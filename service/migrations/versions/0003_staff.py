"""Staff accounts (argon2 password hashes, TOTP) and the erasable record of corrections.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from service.domain.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "staff_accounts",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("totp_secret", sa.String(64)),
        sa.Column("totp_enabled_at", UTCDateTime()),
        sa.Column("totp_last_step", sa.BigInteger()),
        sa.Column("recovery_codes_json", sa.Text()),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTCDateTime()),
        sa.Column("last_login_at", UTCDateTime()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("disabled_at", UTCDateTime()),
    )
    op.create_table(
        "contact_corrections",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id"), nullable=False),
        sa.Column("field", sa.String(20), nullable=False),
        sa.Column("old_value", sa.String(254)),
        sa.Column("new_value", sa.String(254)),
        sa.Column("actor_id", sa.String(100)),
        sa.Column("corrected_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_contact_corrections_contact_id", "contact_corrections", ["contact_id"])


def downgrade() -> None:
    raise RuntimeError("the consent ledger is never downgraded; restore a backup instead")

"""Staff session epoch: a number every signed-in session carries; raising it ends them all.

Logout, a password change, a TOTP reset and disabling an account raise it, so a copied session
cookie stops working at once instead of living out its twelve hours.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "staff_accounts",
        sa.Column("session_epoch", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    raise RuntimeError("the consent ledger is never downgraded; restore a backup instead")

"""Mirror change tracking: triggers note every contact whose row in the mirror may change.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# What the tab shows of a contact and of its subscriptions; other columns never reach it.
CONTACT_COLUMNS = "public_id, name, email, phone, language, email_undeliverable_at, erased_at"
SUBSCRIPTION_COLUMNS = "contact_id, channel, state, since, method, witness"
# (table, trigger event, the row's contact id)
SQLITE_TRIGGERS = (
    ("contacts", f"UPDATE OF {CONTACT_COLUMNS}", "NEW.id"),
    ("contacts", "DELETE", "OLD.id"),
    ("subscriptions", "INSERT", "NEW.contact_id"),
    ("subscriptions", f"UPDATE OF {SUBSCRIPTION_COLUMNS}", "NEW.contact_id"),
    ("subscriptions", "DELETE", "OLD.contact_id"),
)


def upgrade() -> None:
    op.create_table(
        "mirror_dirty",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("contact_id", BigId, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table, events, column in (
            ("contacts", f"UPDATE OF {CONTACT_COLUMNS} OR DELETE", "id"),
            (
                "subscriptions",
                f"INSERT OR UPDATE OF {SUBSCRIPTION_COLUMNS} OR DELETE",
                "contact_id",
            ),
        ):
            op.execute(
                f"""
CREATE FUNCTION consent_mirror_dirty_{table}() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO mirror_dirty (contact_id) VALUES (OLD.{column});
        RETURN OLD;
    END IF;
    INSERT INTO mirror_dirty (contact_id) VALUES (NEW.{column});
    RETURN NEW;
END $$ LANGUAGE plpgsql
"""  # noqa: S608 (table and column names are this module's constants)
            )
            op.execute(
                f"CREATE TRIGGER {table}_mirror_dirty AFTER {events} ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION consent_mirror_dirty_{table}()"
            )
    else:
        for n, (table, event, column) in enumerate(SQLITE_TRIGGERS):
            # Table, event and column are this module's constants.
            insert = f"INSERT INTO mirror_dirty (contact_id) VALUES ({column});"  # noqa: S608
            op.execute(
                f"CREATE TRIGGER {table}_mirror_dirty_{n} AFTER {event} ON {table} "
                f"BEGIN {insert} END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("contacts", "subscriptions"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_mirror_dirty ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS consent_mirror_dirty_{table}()")
    else:
        for n, (table, _event, _column) in enumerate(SQLITE_TRIGGERS):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_mirror_dirty_{n}")
    op.drop_table("mirror_dirty")

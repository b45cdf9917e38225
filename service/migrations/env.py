"""Alembic environment: run migrations on the connection the service hands over."""

from __future__ import annotations

from alembic import context

from service.domain.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - the service always passes its own connection
    raise RuntimeError("run migrations through `consent db upgrade`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

"""Storage rules: the ledger and audit log are append-only, the schema matches the models."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from service import db
from service.domain.models import AuditEntry, Base, ConsentEvent, Contact, Subscription

# Append-only triggers, upserts, concurrent writers and migrations are the backend's own.
pytestmark = pytest.mark.both_databases

GOOD = {"email": "maija@example.fi", "consent": True}


def test_migrations_produce_exactly_the_models_schema(container: Any) -> None:
    with container.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def _one_event(client: Any) -> None:
    assert client.post("/api/v1/subscribe", json=GOOD).status_code == 202


def test_ledger_refuses_update_and_delete(client: Any, container: Any) -> None:
    _one_event(client)
    for statement in ("UPDATE consent_events SET kind = 'withdrawn'", "DELETE FROM consent_events"):
        with container.engine.connect() as conn, pytest.raises(DBAPIError):
            conn.execute(text(statement))
    with container.session_factory() as session:
        assert session.scalars(select(ConsentEvent.kind)).all() == ["requested"]


def test_audit_log_refuses_update_and_delete_but_allows_clearing_an_old_ip(
    container: Any,
) -> None:
    with container.session_factory() as session:
        session.add(AuditEntry(occurred_at=datetime.now(UTC), actor_type="staff", actor_id="1",
                               action="contact.view", ip="203.0.113.5"))
        session.commit()
    for statement in ("UPDATE audit_log SET action = 'nothing'", "DELETE FROM audit_log",
                      "UPDATE audit_log SET ip = '198.51.100.1'"):
        with container.engine.connect() as conn, pytest.raises(DBAPIError):
            conn.execute(text(statement))
    with container.engine.connect() as conn:
        conn.execute(text("UPDATE audit_log SET ip = NULL"))
        conn.commit()
    with container.session_factory() as session:
        entry = session.scalars(select(AuditEntry)).one()
    assert entry.ip is None and entry.action == "contact.view"


def test_fifty_concurrent_opt_ins_of_one_address_give_one_contact(
    app: Any, container: Any
) -> None:
    if container.engine.dialect.name != "postgresql":
        pytest.skip("concurrency is the production backend's concern")
    barrier = threading.Barrier(50)

    def post(_: int) -> int:
        client = app.test_client()
        barrier.wait()
        return int(client.post("/api/v1/subscribe", json=GOOD).status_code)

    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(post, range(50)))
    assert codes == [202] * 50
    with container.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 1
        assert session.scalar(select(func.count()).select_from(Subscription)) == 1


def test_upgrade_is_safe_to_run_again_and_in_parallel(container: Any) -> None:
    errors: list[BaseException] = []

    def upgrade() -> None:
        try:
            engine = db.make_engine(container.settings.database_url)
            db.upgrade(engine, container.settings.data_dir)
            engine.dispose()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=upgrade) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert db.pending_migrations(container.engine) == []


def test_migrations_form_one_line_of_history() -> None:
    """One head: `consent db upgrade` has a single target and a downgrade path is unambiguous."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_upserting_a_contact_the_session_holds_fills_its_gaps_in_that_same_object(
    container: Any,
) -> None:
    from service.domain import ledger
    from service.domain.normalize import parse_email

    now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    address = parse_email("maija@example.fi")
    with container.uow() as uow:
        first, created = ledger.upsert_contact(uow.session, address, name=None, phone=None,
                                               language="fi", now=now)
        assert created and first.name is None
        again, created = ledger.upsert_contact(uow.session, address, name="Maija",
                                               phone="+358401234567", language="sv", now=now)
        assert not created and again is first
        # Gaps filled, the language it was created with kept, and nothing left to write.
        assert (first.name, first.phone, first.language) == ("Maija", "+358401234567", "fi")
        assert not uow.session.dirty
        uow.commit()
    with container.session_factory() as session:
        row = session.scalars(select(Contact)).one()
        assert (row.name, row.phone, row.language) == ("Maija", "+358401234567", "fi")

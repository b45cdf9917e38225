"""The ledger and the audit log are hash chains: `consent verify` names any row changed,
removed or moved behind the service's back, on SQLite and PostgreSQL, while erasure and
retention (which lawfully remove evidence and IP addresses) leave the chains whole."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from service import db
from service.domain import chain, rights
from service.domain.chain_verify import verify as walk
from service.domain.models import ChainLink, ConsentEvent
from service.domain.retention import apply_retention
from service.runner import run_worker
from tests.conftest import PG_ADMIN_URL
from tests.ledger_support import (
    STAFF,
    consent,
    grant_at_the_desk,
    opt_in,
    some_history,
    staff_views,
    swap_ids,
    tamper,
    verify,
)
from tests.register_support import new_key

# The chains are kept by triggers and a sealer under a lock: each backend has its own.
pytestmark = pytest.mark.both_databases


def first_problem(output: str) -> str:
    """Return the line naming the first entry that does not fit."""
    lines = [line for line in output.splitlines() if "the first entry that does not fit" in line]
    assert lines, output
    return lines[0]


def test_verify_passes_an_untouched_ledger_and_says_what_it_checked(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    result = verify(settings)
    assert result.exit_code == 0, result.output
    assert "consent events: 3 link(s) checked, head at position 3" in result.output
    assert "audit log: 3 link(s) checked, head at position 3" in result.output
    assert "evidence: 3 checked against its commitment, 0 removed by erasure" in result.output
    assert "the ledger and the audit log are whole" in result.output


def test_verify_names_a_consent_event_altered_in_the_database(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    tamper(container, "UPDATE consent_events SET kind = 'granted' WHERE id = 2")
    result = verify(settings)
    assert result.exit_code == 1
    assert "events chain, position 2 (event 2): it does not match its hash" in \
        first_problem(result.output)


def test_verify_names_a_consent_event_deleted_from_the_database(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    tamper(container, "DELETE FROM evidence WHERE event_id = 2",
           "DELETE FROM consent_events WHERE id = 2")
    result = verify(settings)
    assert result.exit_code == 1
    assert "events chain, position 2 (event 2): the event is missing from the ledger" in \
        first_problem(result.output)


def test_verify_names_consent_events_reordered_in_the_database(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    tamper(container, *swap_ids("consent_events", "id", 1, 2))
    result = verify(settings)
    assert result.exit_code == 1
    assert "events chain, position 1 (event 1): it does not match its hash" in \
        first_problem(result.output)
    assert "position 2 (event 2): it does not match its hash" in result.output


def test_verify_names_an_audit_entry_altered_in_the_database(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    tamper(container, "UPDATE audit_log SET action = 'contact.export' WHERE id = 2")
    result = verify(settings)
    assert result.exit_code == 1
    assert "audit chain, position 2 (audit entry 2): it does not match its hash" in \
        first_problem(result.output)


def test_verify_names_an_audit_entry_deleted_from_the_database(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    tamper(container, "DELETE FROM audit_log WHERE id = 2")
    result = verify(settings)
    assert result.exit_code == 1
    assert "audit chain, position 2 (audit entry 2): the entry is missing from the audit log" \
        in first_problem(result.output)


def test_verify_names_audit_entries_reordered_in_the_database(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    tamper(container, *swap_ids("audit_log", "id", 1, 3))
    result = verify(settings)
    assert result.exit_code == 1
    assert "audit chain, position 1 (audit entry 1)" in first_problem(result.output)
    assert "position 3 (audit entry 3)" in result.output


def test_verify_names_an_audit_entry_whose_ip_address_was_changed(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    tamper(container, "UPDATE audit_log SET ip = '192.0.2.99' WHERE id = 2")
    result = verify(settings)
    assert result.exit_code == 1
    assert "audit chain, position 2 (audit entry 2): its IP address was altered" in \
        first_problem(result.output)


def test_verify_names_evidence_altered_in_the_database(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    tamper(container, "UPDATE evidence SET page_url = 'https://example.com/' WHERE event_id = 1")
    result = verify(settings)
    assert result.exit_code == 1
    assert "events chain, position 1 (event 1): its evidence was altered" in \
        first_problem(result.output)


def test_verify_names_an_ip_address_in_evidence_changed_in_the_database(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    tamper(container, "UPDATE evidence SET ip = '192.0.2.1' WHERE event_id = 2")
    result = verify(settings)
    assert result.exit_code == 1
    assert "events chain, position 2 (event 2): the IP address in its evidence was altered" in \
        first_problem(result.output)


def test_verify_names_evidence_deleted_though_its_contact_was_not_erased(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    tamper(container, "DELETE FROM evidence WHERE event_id = 3")
    result = verify(settings)
    assert result.exit_code == 1
    assert ("events chain, position 3 (event 3): its evidence was deleted, but its contact "
            "was not erased") in first_problem(result.output)


def test_verify_names_evidence_moved_between_events_in_the_database(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    tamper(container, *swap_ids("evidence", "event_id", 1, 2))
    result = verify(settings)
    assert result.exit_code == 1
    assert "events chain, position 1 (event 1): its evidence was altered" in \
        first_problem(result.output)


def test_verify_names_links_deleted_from_the_chain(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    tamper(container, "DELETE FROM chain_links WHERE chain = 'events' AND position = 2")
    result = verify(settings)
    assert result.exit_code == 1
    assert "events chain, position 2: positions 2 to 2 are missing from the chain" in \
        first_problem(result.output)


def test_an_entry_written_by_any_code_path_is_chained_by_the_sealer(
    client: Any, container: Any, settings: Any, clock: Any
) -> None:
    some_history(client, container)
    with container.engine.begin() as conn:  # as an older version of the service would
        conn.execute(insert(ConsentEvent).values(
            contact_id=1, channel="email", kind="withdrawn", method="staff_on_request",
            actor_type="staff", actor_id="7", occurred_at=clock.now()))
    assert container.seal_ledger() == chain.SealReport(events=1, audit=0)
    result = verify(settings)
    assert result.exit_code == 0, result.output
    assert "consent events: 4 link(s) checked" in result.output


def test_an_event_written_with_the_triggers_disabled_is_named_until_sealed_on_purpose(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    tamper(container, "INSERT INTO consent_events (contact_id, channel, kind, method, "
           "actor_type, occurred_at) VALUES (1, 'email', 'granted', 'import', 'system', "
           "'2026-11-20 09:00:00')")
    result = verify(settings)
    assert result.exit_code == 1
    assert "events chain: entry 4 is not in the chain (written around it)" in \
        first_problem(result.output)
    sealed = verify(settings, "--seal")
    assert sealed.exit_code == 0, sealed.output
    assert "sealed: 1 event(s) and 0 audit entr(ies)" in sealed.output
    assert "consent events: 4 link(s) checked" in sealed.output


def test_an_erasure_leaves_the_chains_whole(
    client: Any, container: Any, settings: Any
) -> None:
    desk = some_history(client, container)[0]
    rights.erase_contact(container.uow(), container.deps, desk, STAFF, ip="198.51.100.5")
    result = verify(settings)
    assert result.exit_code == 0, result.output
    assert "1 removed by erasure" in result.output
    # The withdrawal the erasure recorded and its audit entry are chained too.
    assert "consent events: 4 link(s) checked" in result.output
    assert "audit log: 4 link(s) checked" in result.output


def test_a_retention_run_leaves_the_chains_whole(
    client: Any, container: Any, settings: Any, clock: Any
) -> None:
    opt_in(client, "never-confirmed@example.fi", "203.0.113.9")
    desk = grant_at_the_desk(container, "liisa@example.fi", "198.51.100.4")
    staff_views(container, desk, "198.51.100.5")
    container.seal_ledger()  # the worker chained them long before retention's day came
    clock.advance(days=400)
    report = apply_retention(container.uow(), container.deps)
    assert (report.pending_removed, report.evidence_ips_cleared, report.audit_ips_cleared) \
        == (1, 1, 2)
    result = verify(settings)
    assert result.exit_code == 0, result.output
    assert "evidence: 1 checked against its commitment, 1 removed by erasure" in result.output
    assert "IP addresses: 0 checked, 1 cleared by retention" in result.output
    assert "IP addresses: 0 checked, 2 cleared by retention" in result.output


def test_entries_wait_for_the_sealer_then_take_their_places_in_commit_order(
    client: Any, container: Any, clock: Any
) -> None:
    opt_in(client, "maija@example.fi", "203.0.113.7")
    desk = grant_at_the_desk(container, "liisa@example.fi", "198.51.100.4")
    with container.session_factory() as session:
        assert chain.pending_count(session, "events") == 2
        assert chain.pending_count(session, "audit") == 1
        assert chain.event_proof(session, 1) is None
    assert container.seal_ledger() == chain.SealReport(events=2, audit=1)
    staff_views(container, desk, "198.51.100.5")
    assert container.seal_ledger() == chain.SealReport(events=0, audit=1)
    with container.session_factory() as session:
        links = session.execute(select(ChainLink.chain, ChainLink.position, ChainLink.entry_id)
                                .order_by(ChainLink.chain, ChainLink.position)).all()
        heads = chain.read_heads(session)
        assert chain.pending_count(session, "events") == 0
    assert [tuple(row) for row in links] == [
        ("audit", 1, 1), ("audit", 2, 2), ("events", 1, 1), ("events", 2, 2)]
    assert heads["events"][0] == 2 and heads["audit"][0] == 2


def test_the_worker_chains_new_entries_by_itself(
    client: Any, container: Any
) -> None:
    opt_in(client, "maija@example.fi", "203.0.113.7")
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(container, stop), daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            with container.session_factory() as session:
                if chain.event_proof(session, 1) is not None:
                    break
            assert time.monotonic() < deadline, "the worker never chained the event"
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=30)


def test_concurrent_writers_and_sealers_on_postgresql_keep_one_gapless_order(
    app: Any, container: Any, settings: Any
) -> None:
    if container.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers are the production backend's concern")
    key = new_key(container, "reader")  # every register read is audited
    barrier = threading.Barrier(24)
    writing = threading.Event()
    writing.set()

    def work(n: int) -> int:
        client = app.test_client()
        barrier.wait()
        if n % 3 == 0:
            answer = client.get("/api/v1/register", headers={"Authorization": f"Bearer {key}"})
        else:
            answer = client.post("/api/v1/subscribe",
                                 json={"email": f"p{n}@example.fi", "consent": True},
                                 environ_base={"REMOTE_ADDR": f"203.0.113.{n}"})
        return int(answer.status_code)

    def sealer() -> int:
        rounds = 0
        while writing.is_set():  # two workers sealing at once: one waits its turn or skips
            container.seal_ledger(wait=False)
            rounds += 1
        return rounds

    with ThreadPoolExecutor(max_workers=26) as pool:
        sealers = [pool.submit(sealer) for _ in range(2)]
        codes = list(pool.map(work, range(48)))
        writing.clear()
        assert all(s.result() > 0 for s in sealers)
    container.seal_ledger()
    assert all(code in (200, 202) for code in codes), codes
    with container.session_factory() as session:
        events = session.scalar(select(func.count()).select_from(ConsentEvent))
        positions = list(session.scalars(select(ChainLink.position)
                                         .where(ChainLink.chain == "events")
                                         .order_by(ChainLink.position)))
        audited = list(session.scalars(select(ChainLink.position)
                                       .where(ChainLink.chain == "audit")
                                       .order_by(ChainLink.position)))
    assert events == 32 and positions == list(range(1, 33))
    assert audited == list(range(1, len(audited) + 1)) and len(audited) >= 16
    result = verify(settings)
    assert result.exit_code == 0, result.output
    assert "consent events: 32 link(s) checked" in result.output


def test_event_proof_gives_position_hash_and_the_first_checkpoint_covering_it(
    client: Any, container: Any, settings: Any
) -> None:
    some_history(client, container)
    with container.session_factory() as session:
        before = chain.event_proof(session, 2)
    assert before is not None and before.position == 2 and before.covered_by is None
    made = container.make_checkpoint()
    opt_in(client, "later@example.fi", "203.0.113.20")
    container.make_checkpoint()
    with container.session_factory() as session:
        proof = chain.event_proof(session, 2)
        later = chain.event_proof(session, 4)
        stored = session.execute(select(ChainLink.hash).where(
            ChainLink.chain == "events", ChainLink.position.in_([1, 2]))
            .order_by(ChainLink.position)).scalars().all()
        assert chain.event_proof(session, 999) is None
    assert proof is not None and later is not None
    assert (proof.position, proof.previous_hash, proof.hash) == (2, stored[0], stored[1])
    assert proof.covered_by == made.checkpoint
    assert later.covered_by is not None and later.covered_by.events_position == 4
    assert container.signer.check(proof.covered_by) == "valid"


def _database_at_0006(database_url: str, tmp_path: Path) -> tuple[str, Any]:
    """Return a fresh database of the same backend migrated only up to 0006, and a cleanup."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
        return url, lambda: None
    name = f"consent_test_old_{tmp_path.name[-12:].replace('-', '_').lower()}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def test_the_migration_chains_everything_written_before_it(
    database_url: str, tmp_path: Path, clock: Any
) -> None:
    url, drop = _database_at_0006(database_url, tmp_path)
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                conn.commit()
            command.upgrade(db._alembic_config(conn), "0006")
            conn.commit()
        now = clock.now()
        with engine.begin() as conn:  # rows as the previous version wrote them
            conn.execute(text(
                "INSERT INTO contacts (public_id, email, email_key, language, soft_bounces, "
                "created_at, updated_at) VALUES ('c0ffee00-0000-4000-8000-000000000001', "
                "'a@example.fi', 'a@example.fi', 'fi', 0, :now, :now)"), {"now": now})
            for kind in ("requested", "confirmed", "withdrawn"):
                conn.execute(insert(ConsentEvent).values(
                    contact_id=1, channel="email", kind=kind, method="web_form",
                    actor_type="person", occurred_at=now))
            conn.execute(text(
                "INSERT INTO evidence (event_id, contact_id, ip, user_agent, recorded_at) "
                "VALUES (1, 1, '203.0.113.1', 'Firefox', :now)"), {"now": now})
            conn.execute(text(
                "INSERT INTO audit_log (occurred_at, actor_type, actor_id, action, ip) "
                "VALUES (:now, 'staff', '1', 'contact.view', '198.51.100.1')"), {"now": now})
        db.upgrade(engine, tmp_path)
        factory = db.make_session_factory(engine)
        report = walk(factory)
        assert report.whole, report.first_problem()
        assert (report.chains["events"].links, report.chains["audit"].links) == (3, 1)
        assert report.chains["events"].evidence_checked == 1
        with factory() as session:
            assert [row.entry_id for row in session.scalars(
                select(ChainLink).where(ChainLink.chain == "events")
                .order_by(ChainLink.position))] == [1, 2, 3]
    finally:
        engine.dispose()
        drop()


def test_the_checkpoint_command_prints_the_public_key_for_third_parties(
    container: Any, settings: Any
) -> None:
    result = consent(settings, "checkpoint", "--public-key")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    assert f"key id {container.signer.key_id}" in result.output

"""Helpers for the hash-chain tests: some history, `consent verify`, tampering as a DBA would."""

from __future__ import annotations

import sqlite3
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import text

from service.cli import main
from service.domain import audit, ledger
from service.domain.ledger import Actor, EvidenceData
from service.domain.models import ActorType, EventKind, Method
from service.domain.normalize import parse_email
from service.settings import Settings

# What a database owner would have to lift to rewrite history in place.
PROTECTED_TABLES = ("consent_events", "audit_log", "evidence", "chain_links", "chain_heads")
STAFF = Actor(ActorType.STAFF, "7")


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Return the environment of a `consent` command run against the test's service."""
    return {
        "CONSENT_DATA_DIR": str(settings.data_dir),
        "CONSENT_DATABASE_URL": settings.database_url,
        "CONSENT_SECRET_KEYS": ",".join(settings.secret_keys),
        "CONSENT_PUBLIC_URL": settings.public_url,
        "CONSENT_ORGANIZATION": settings.organization,
        **extra,
    }


def consent(settings: Settings, *args: str, **extra: str) -> Result:
    """Run a `consent` command as an operator would."""
    return CliRunner().invoke(main, list(args), env=cli_env(settings, **extra))


def verify(settings: Settings, *args: str, **extra: str) -> Result:
    """Run `consent verify`."""
    return consent(settings, "verify", *args, **extra)


def opt_in(client: Any, email: str, ip: str) -> None:
    """Opt in through the form, as a visitor's browser would (evidence: IP, browser, page)."""
    answer = client.post(
        "/api/v1/subscribe",
        json={"email": email, "consent": True, "page_url": "https://www.klinikka.fi/uutiskirje"},
        headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"},
        environ_base={"REMOTE_ADDR": ip},
    )
    assert answer.status_code == 202, answer.get_data(as_text=True)


def grant_at_the_desk(container: Any, email: str, ip: str) -> str:
    """Record consent given at the desk, with the staff member's IP as evidence."""
    now = container.clock.now()
    with container.uow() as uow:
        contact, _ = ledger.upsert_contact(uow.session, parse_email(email), name=None,
                                           phone=None, language="fi", now=now)
        ledger.record(uow.session, contact, "email", EventKind.GRANTED,
                      Method.VERBAL_IN_PERSON, STAFF, now=now, witness="7",
                      notice=ledger.NoticeRef(1, "fi"),
                      evidence=EvidenceData(source_ip=ip, note="asked at the desk"))
        audit.append(uow.session, STAFF, "consent.verbal", contact.public_id, ip, now=now)
        public_id = contact.public_id
        uow.commit()
    return public_id


def staff_views(container: Any, public_id: str, ip: str) -> None:
    """Audit a staff member viewing a contact."""
    with container.uow() as uow:
        audit.append(uow.session, STAFF, "contact.view", public_id, ip,
                     now=container.clock.now())
        uow.commit()


def some_history(client: Any, container: Any) -> list[str]:
    """Write events 1-3 (two web opt-ins, one desk consent) and audit entries 1-3."""
    opt_in(client, "maija@example.fi", "203.0.113.7")
    opt_in(client, "ville@example.fi", "203.0.113.8")
    desk = grant_at_the_desk(container, "liisa@example.fi", "198.51.100.4")
    staff_views(container, desk, "198.51.100.5")
    staff_views(container, desk, "198.51.100.6")
    container.seal_ledger()  # as the worker does within a second
    return [desk]


def tamper(container: Any, *statements: str) -> None:
    """Run SQL as the database's owner would: every trigger and foreign key lifted."""
    engine = container.engine
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for table in PROTECTED_TABLES:
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER ALL"))
            for statement in statements:
                conn.execute(text(statement))
            for table in PROTECTED_TABLES:
                conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER ALL"))
        return
    conn = sqlite3.connect(engine.url.database)
    try:
        conn.execute("PRAGMA foreign_keys=OFF")
        triggers = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND (name LIKE "
            "'%_no_update' OR name LIKE '%_no_delete' OR name LIKE '%_chain_pending')").fetchall()
        for name, _sql in triggers:
            conn.execute(f"DROP TRIGGER {name}")
        for statement in statements:
            conn.execute(statement)
        for _name, sql in triggers:
            conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


def swap_ids(table: str, column: str, first: int, second: int) -> list[str]:
    """Return the statements that swap two rows' values of a unique column."""
    update = f"UPDATE {table} SET {column} = "  # noqa: S608 (the test's own names)
    return [
        f"{update}900000 WHERE {column} = {first}",
        f"{update}{first} WHERE {column} = {second}",
        f"{update}{second} WHERE {column} = 900000",
    ]

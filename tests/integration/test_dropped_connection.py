"""A pooled PostgreSQL connection the server has ended is replaced before use, with no pre-ping."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from service import db
from service.settings import load_settings

pytestmark = pytest.mark.postgresql


def end_every_connection(url: str) -> int:
    """End every connection to the database but this one; wait until they are gone."""
    others = ("FROM pg_stat_activity WHERE datname = current_database() "
              "AND pid <> pg_backend_pid()")
    with psycopg_admin(url) as admin:
        ended = admin.execute(f"SELECT count(pg_terminate_backend(pid)) {others}").fetchone()
        for _ in range(100):
            left = admin.execute(f"SELECT count(*) {others}").fetchone()
            if left is None or not left[0]:
                break
            time.sleep(0.02)
    return int(ended[0]) if ended else 0


def count_statements(engine: Engine) -> list[str]:
    """Record every statement the engine sends from now on."""
    sent: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    return sent


def test_checkout_sends_no_ping(postgres_template: str) -> None:
    engine = db.make_engine(postgres_template)
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT 1"))
        sent = count_statements(engine)
        with engine.begin() as conn:
            conn.execute(text("SELECT 2"))
        assert sent == ["SELECT 2"]
    finally:
        engine.dispose()


def test_connection_ended_by_the_server_is_replaced_at_checkout(postgres_template: str) -> None:
    engine = db.make_engine(postgres_template)
    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with psycopg_admin(postgres_template) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        wait_until_gone(postgres_template, first)
        with engine.begin() as conn:
            second = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert second != first
    finally:
        engine.dispose()


def test_next_opt_in_succeeds_after_the_server_ends_every_connection(
    postgres_template: str, tmp_path: Path
) -> None:
    from service.bootstrap import build
    from service.web import create_app

    settings = load_settings({
        "CONSENT_DATA_DIR": str(tmp_path / "data"),
        "CONSENT_DATABASE_URL": postgres_template,
        "CONSENT_SECRET_KEYS": "test-key-0123456789abcdef",
        "CONSENT_PUBLIC_URL": "https://consent.example.fi",
        "CONSENT_OPTIN_RATE_LIMIT": "1000/minute",
    })
    container = build(settings, migrate=False)
    try:
        client = create_app(container=container).test_client()
        for n in range(3):  # several pooled connections in use, then idle in the pool
            answer = client.post("/api/v1/subscribe",
                                 json={"email": f"dropped-{n}@example.fi", "consent": True})
            assert answer.status_code == 202
        assert end_every_connection(postgres_template) >= 1

        answer = client.post("/api/v1/subscribe",
                             json={"email": "after-restart@example.fi", "consent": True})

        assert answer.status_code == 202
        assert answer.get_json()["status"] == "pending"
    finally:
        container.close()


@contextlib.contextmanager
def psycopg_admin(url: str) -> Iterator[Any]:
    """Open a short autocommit psycopg connection to the same database."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1),
                         autocommit=True) as conn:
        yield conn


def wait_until_gone(url: str, pid: int) -> None:
    """Wait until the server process of an ended connection has left."""
    with psycopg_admin(url) as admin:
        for _ in range(100):
            row = admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,))
            if row.fetchone() is None:
                return
            time.sleep(0.02)

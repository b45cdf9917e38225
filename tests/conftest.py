"""Shared fixtures: real SQLite and PostgreSQL, a fake clock, the app, a live HTTP server.

Tests run on SQLite; a test marked `both_databases` (it proves something the backend decides:
locks, triggers, upserts, append-only rules, SKIP LOCKED, migrations, backups) runs on
PostgreSQL too, where PostgreSQL answers.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import profiles
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from werkzeug.serving import make_server

from service import db
from service.bootstrap import Container, build
from service.settings import Settings, load_settings

PG_ADMIN_URL = os.environ.get(
    "CONSENT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_PG = os.environ.get("CONSENT_TEST_REQUIRE_POSTGRES") == "1"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)


def _postgres_available() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


PG_AVAILABLE = _postgres_available()
if REQUIRE_PG and not PG_AVAILABLE:
    raise RuntimeError("CONSENT_TEST_REQUIRE_POSTGRES=1 but PostgreSQL does not answer")

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
# Staff password hashes in tests: argon2id at its cheapest. The service's own processes (the CLI,
# gunicorn) started by tests keep the production cost; one test checks what that cost is.
TEST_PASSWORD_COST = profiles.CHEAPEST


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Give tests marked both_databases a database of each backend."""
    if "database_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_databases"
    ):
        metafunc.parametrize("database_url", BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """Create a throwaway PostgreSQL database for this test run, migrated once."""
    if not PG_AVAILABLE:
        pytest.skip("PostgreSQL is not running here")
    # One per pytest-xdist worker: the name is random, so workers never share a database.
    name = f"consent_test_{uuid.uuid4().hex[:10]}"
    _administer(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    yield url
    _administer(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _administer(statement: str) -> None:
    """Run one statement on a connection of its own (one held all run may have been ended)."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(statement))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate one SQLite file; each test copies it."""
    path = tmp_path_factory.mktemp("template") / "consent.sqlite3"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine, path.parent)
    engine.dispose()
    return path


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database: SQLite, or each backend for tests marked both_databases."""
    if getattr(request, "param", "sqlite") == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "data" / "consent.sqlite3"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(template.read_bytes())
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_template")
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).scalars().all()
        wipe = [t for t in tables if t not in ("alembic_version", "notices")]
        # TRUNCATE is not a row-level UPDATE/DELETE: the append-only triggers allow it.
        conn.execute(text(f"TRUNCATE {', '.join(wipe)} RESTART IDENTITY CASCADE"))
        conn.execute(text("DELETE FROM notices WHERE version > 1"))
    engine.dispose()
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for a test: its own data dir and database, fixed keys."""
    env = {
        "CONSENT_DATA_DIR": str(tmp_path / "data"),
        "CONSENT_DATABASE_URL": database_url,
        "CONSENT_SECRET_KEYS": "test-key-0123456789abcdef",
        "CONSENT_ORGANIZATION": "Kiropraktikko Testi",
        "CONSENT_ORGANIZATION_ADDRESS": "Kauppakatu 1, 40100 Jyväskylä",
        "CONSENT_PUBLIC_URL": "https://consent.example.fi",
        "CONSENT_OPTIN_RATE_LIMIT": "1000/minute",
    }
    return load_settings(env)


def make_container(settings: Settings, clock: Any, **overrides: Any) -> Container:
    """Build a container the way the service does, with test overrides and cheap passwords."""
    if overrides:
        settings = replace(settings, **overrides)
    container = build(settings, clock=clock, migrate=False)
    container.deps = replace(container.deps, password_cost=TEST_PASSWORD_COST)
    return container


@pytest.fixture
def container(settings: Settings, clock: FakeClock) -> Iterator[Container]:
    c = make_container(settings, clock)
    yield c
    c.close()


@pytest.fixture
def app(container: Container) -> Any:
    from service.web import create_app

    application = create_app(container=container)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


class LiveServer:
    """The app served over real HTTP on loopback in a thread."""

    def __init__(self, app: Any) -> None:
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        # A short poll lets shutdown() return at once rather than after werkzeug's 0.5 s.
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


@pytest.fixture
def live_server(app: Any) -> Iterator[LiveServer]:
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture
def smtp_sink() -> Iterator[Any]:
    from tests.smtp_sink import SmtpSink

    sink = SmtpSink()
    yield sink
    sink.stop()

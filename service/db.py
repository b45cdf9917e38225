"""Database engines, sessions and migrations for SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number: all processes of the service take the same advisory lock to migrate.
MIGRATION_LOCK_ID = 7_214_003_001
# How long a checkout waits for the end of a stream whose server has said goodbye (only a
# connection with something unasked-for to read ever waits).
FAREWELL_WAIT_MS = 20


def keep_private(database: str | None) -> None:
    """Make a SQLite file (and its WAL files) readable by the service's user only (0600).

    It holds TOTP secrets and webhook signing secrets. SQLite creates its -wal and -shm files
    with the database file's permissions, so the file is made before SQLite opens it.
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """Create an engine tuned for the backend: WAL and immediate transactions on SQLite.

    A database error never shows its statement's parameters (hide_parameters): they are
    addresses, names and IP addresses, and such errors end up in the logs.
    """
    if url.startswith("sqlite"):
        keep_private(make_url(url).database)
        engine = create_engine(url, poolclass=NullPool if ":memory:" not in url else None,
                               hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, decide when a transaction begins.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Take the write lock up front so two writers never deadlock upgrading a read lock.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # No pre-ping (a round trip on every checkout): a connection the server has closed is
    # found by looking at its socket instead (_refuse_closed_connection). One dropped without
    # a word (a network cut) fails the statement that finds out; SQLAlchemy then sees a
    # disconnect and discards the pool's connections, so only that request fails.
    engine = create_engine(
        url, pool_size=pool_size, max_overflow=10, pool_pre_ping=False, pool_recycle=1800,
        hide_parameters=True,
    )
    event.listen(engine, "checkout", _refuse_closed_connection)
    return engine


def server_closed(dbapi_connection: Any) -> bool:
    """Tell, without a round trip, whether the server has ended an idle psycopg connection.

    A server that ends a connection (pg_terminate_backend, a restart, idle timeouts) sends its
    reason and closes the socket, so an idle connection with something to read is either
    ended or holds a notification; reading what is there tells which.
    """
    pgconn = getattr(dbapi_connection, "pgconn", None)
    if pgconn is None or getattr(dbapi_connection, "closed", False):
        return pgconn is None
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
    # The server's farewell and the end of the stream may come in two reads: once something
    # has come, the end of the stream is waited for a moment (a busy machine may not have
    # delivered it yet); a notification leaves nothing more to read.
    for attempt in range(3):
        if not poller.poll(0 if attempt == 0 else FAREWELL_WAIT_MS):
            return bool(pgconn.status != psycopg.pq.ConnStatus.OK)
        try:
            pgconn.consume_input()
        except psycopg.OperationalError:
            return True
    return True


def _refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Make the pool replace a connection the server has ended before handing it out.

    Raising DisconnectionError in a checkout listener is SQLAlchemy's way to have the pool
    discard the connection and check out another (three tries): safe to retry, because
    nothing of the transaction has been sent yet.
    """
    if server_closed(dbapi_connection):
        raise DisconnectionError("the server has closed this pooled connection")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Create the session factory every unit of work uses."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@contextlib.contextmanager
def _migration_lock(engine: Engine, lock_dir: Path | None) -> Iterator[Connection]:
    """Hold a lock that only one migrating process at a time can have."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
                conn.commit()
        return
    lock_path = (lock_dir or Path(".")) / "migrate.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(engine: Engine, lock_dir: Path | None = None) -> None:
    """Bring the schema up to date, under a lock so parallel starts don't race."""
    with _migration_lock(engine, lock_dir) as conn:
        if engine.dialect.name == "sqlite":
            # Alembic manages its own transaction; ours would be an IMMEDIATE one already.
            conn.commit()
        command.upgrade(_alembic_config(conn), "head")
        conn.commit()


def pending_migrations(engine: Engine) -> list[str]:
    """List the revisions not yet applied."""
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
        script = ScriptDirectory.from_config(_alembic_config(conn))
        heads = set(script.get_heads())
        if set(current) == heads:
            return []
        return [r.revision for r in script.iterate_revisions(tuple(heads), tuple(current))]

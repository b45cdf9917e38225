"""Check that the same-work floor (bench/floor_app.py) writes exactly the rows the service writes.

    .venv/bin/python bench/floor_check.py [--postgres URL]

Two throwaway PostgreSQL databases are migrated with the service's migrations and seeded alike
(subscribers as `consent import` leaves them). The same requests go to the service (its real
app, in process) on one and to the floor on the other: opt-ins of new addresses and one-click
unsubscribes of seeded subscribers, from the same address and user agent. Then every table of
the schema is compared row by row, ids, times and random values aside (contacts, consent
events, evidence, subscriptions, the outbox, mirror notes, the chain's queue, and any table
added later), and so are the answers. Exit status 0 when all match; the differences otherwise.
tests/integration/test_bench_floor.py runs the same check in the test suite.
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

PUBLIC_URL = "https://consent.example.fi"
ONE_CLICK = b"List-Unsubscribe=One-Click"
ENVIRON = {"REMOTE_ADDR": "192.0.2.10"}
HEADERS = {"User-Agent": "floor-check/1"}
# Values that differ between any two runs: generated ids, random keys, what is derived from them.
RANDOM_COLUMNS = {"public_id", "idempotency_key"}
TOKEN = re.compile(r"/confirm/[A-Za-z0-9_.\-]+")
MESSAGE_ID = re.compile(r"<[0-9a-f]{40}@")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
# The migration history is not written by requests.
NOT_COMPARED = {"alembic_version"}


def settings_env(url: str, key: str, data_dir: Path) -> dict[str, str]:
    """Return the configuration both apps get."""
    return {
        "CONSENT_DATABASE_URL": url,
        "CONSENT_SECRET_KEYS": key,
        "CONSENT_PUBLIC_URL": PUBLIC_URL,
        "CONSENT_OPTIN_RATE_LIMIT": "1000/minute",
        "CONSENT_DATA_DIR": str(data_dir),
    }


def masked(column: str, value: Any, since: datetime) -> Any:
    """Return a value as compared: ids and random values become their kind, times whether
    they are from before the requests or not."""
    if column == "id" or column.endswith("_id") or column in RANDOM_COLUMNS:
        return "<id>" if value is not None else None
    if isinstance(value, datetime):
        return "<during the requests>" if value >= since else "<before>"
    if isinstance(value, date):
        return "<date>"
    if isinstance(value, str):
        for pattern, kind in ((TOKEN, "/confirm/<token>"), (MESSAGE_ID, "<message-id@"),
                              (UUID, "<uuid>"), (TIMESTAMP, "<time>")):
            value = pattern.sub(kind, value)
        return value
    if isinstance(value, bytes | memoryview):
        return "<bytes>"
    return value


def table_rows(url: str, since: datetime) -> Tables:
    """Return every table's rows, masked, as a multiset of (column, value) tuples."""
    tables: Tables = {}
    with psycopg.connect(harness.libpq(url)) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
        for name in names:
            if name in NOT_COMPARED:
                continue
            cursor = conn.execute(f'SELECT * FROM "{name}"')  # noqa: S608 (catalogue names)
            columns = [d.name for d in cursor.description or ()]
            tables[name] = Counter(
                tuple((c, repr(masked(c, v, since))) for c, v in zip(columns, row, strict=True))
                for row in cursor.fetchall()
            )
    return tables


Tables = dict[str, Counter[tuple[Any, ...]]]


def changes(before: Tables, after: Tables) -> Tables:
    """Return, per table, the rows written (+1) and the rows gone or overwritten (-1)."""
    out: Tables = {}
    for name in set(before) | set(after):
        old, new = before.get(name, Counter()), after.get(name, Counter())
        gone = Counter({(("gone", True), *row): n for row, n in (old - new).items()})
        out[name] = (new - old) + gone
    return out


def differences(service: Tables, floor: Tables) -> list[str]:
    """Describe every change one database saw and the other did not, table by table."""
    found = []
    for name in sorted(set(service) | set(floor)):
        ours, theirs = service.get(name, Counter()), floor.get(name, Counter())
        for row in (ours - theirs).elements():
            found.append(f"{name}: only the service wrote {row}")
        for row in (theirs - ours).elements():
            found.append(f"{name}: only the floor wrote {row}")
    return found


def requests(prefix: str, tokens: list[str]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Yield the requests both apps get: opt-ins, then one-clicks (one repeated)."""
    for n in range(3):
        yield "POST", "/api/v1/subscribe", {
            "json": {"email": f"{prefix}-new-{n}@example.fi", "consent": True}}
    for token in [*tokens, tokens[0]]:
        yield "POST", f"/unsubscribe/{token}", {
            "data": ONE_CLICK, "content_type": "application/x-www-form-urlencoded"}


def answers_of(client: Any, prefix: str, tokens: list[str]) -> list[tuple[int, str]]:
    """Send the requests through a Flask test client; return each status and body."""
    out = []
    for method, path, kwargs in requests(prefix, tokens):
        answer = client.open(path, method=method, headers=HEADERS, environ_base=ENVIRON,
                             **kwargs)
        out.append((answer.status_code, answer.get_data(as_text=True)))
    return out


@contextmanager
def migrated_database(base: str, name: str, env: dict[str, str]) -> Iterator[str]:
    """Create, migrate and yield a throwaway database."""
    with harness.throwaway_database(base, name) as url:
        harness.consent_db_upgrade({**env, "CONSENT_DATABASE_URL": url})
        yield url


def check(base: str, subscribers: int = 3) -> list[str]:
    """Run the same requests on the service and the floor; return the differences (none: [])."""
    from floor_app import create_app as create_floor
    from unsubscribe import seed_subscribers, sign_tokens

    from service.bootstrap import build
    from service.settings import load_settings
    from service.web import create_app as create_service

    key = secrets.token_urlsafe(32)
    run = harness.run_id().replace("-", "_")
    found: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        import os

        env = {**os.environ, **settings_env("", key, Path(tmp) / "data")}
        with migrated_database(base, f"consent_floorcheck_{run}_s", env) as service_url, \
                migrated_database(base, f"consent_floorcheck_{run}_f", env) as floor_url:
            answers, written = {}, {}
            for name, url in (("service", service_url), ("floor", floor_url)):
                ids = seed_subscribers(url, "check", subscribers)
                tokens = sign_tokens([key], ids)
                started = datetime.now(UTC)
                before = table_rows(url, started)
                app_env = settings_env(url, key, Path(tmp) / name)
                if name == "service":
                    container = build(load_settings(app_env), migrate=False)
                    try:
                        answers[name] = answers_of(create_service(container=container)
                                                   .test_client(), "check", tokens)
                    finally:
                        container.close()
                else:
                    floor = create_floor(app_env)
                    try:
                        answers[name] = answers_of(floor.test_client(), "check", tokens)
                    finally:
                        floor.extensions["floor"].pool.close()
                written[name] = changes(before, table_rows(url, started))
            found += differences(written["service"], written["floor"])
            for n, (ours, theirs) in enumerate(zip(answers["service"], answers["floor"],
                                                   strict=True)):
                if ours != theirs:
                    found.append(f"request {n}: service answered {ours}, floor {theirs}")
    return found


def main(argv: list[str] | None = None) -> int:
    """Run the check and print what differs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=harness.DEFAULT_POSTGRES,
                        help="server URL without a database name")
    args = parser.parse_args(argv)
    found = check(args.postgres)
    for line in found:
        print(line)
    print("floor writes what the service writes" if not found else
          f"{len(found)} differences: bring bench/floor_app.py in step")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

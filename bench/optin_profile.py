"""Where one opt-in spends its time: SQL statements, round trips and CPU per request, in-process.

    .venv/bin/python bench/optin_profile.py [--requests 400] [--top 25] [--sqlite]

It migrates a throwaway PostgreSQL database (or a temporary SQLite file), builds the real app
with the benchmark's settings (double opt-in, no SMTP, no worker, a huge rate limit), sends
opt-ins with unique addresses through Flask's test client (no HTTP, no gunicorn: this isolates
the application's own cost), and prints the statements one request runs, CPU milliseconds per
request, and the functions that cost the most (cProfile, cumulative). Not a benchmark: the
figures here do not include HTTP parsing by gunicorn or contention between workers.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import event

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

from optin import libpq, throwaway_database  # noqa: E402


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--top", type=int, default=25, help="profile lines to print")
    parser.add_argument("--sqlite", action="store_true", help="profile on SQLite instead")
    parser.add_argument("--postgres", default=os.environ.get(
        "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432"))
    return parser.parse_args()


def profile(url: str, work_dir: Path, args: argparse.Namespace) -> None:
    """Build the app on url and profile opt-ins through the test client."""
    from service.settings import load_settings
    from service.web import create_app

    settings = load_settings({
        "CONSENT_DATABASE_URL": url,
        "CONSENT_SECRET_KEYS": secrets.token_urlsafe(32),
        "CONSENT_OPTIN_RATE_LIMIT": "100000000/minute",
        "CONSENT_DATA_DIR": str(work_dir / "data"),
    })
    from service.bootstrap import build

    container = build(settings, migrate=True)
    app = create_app(container=container)
    client = app.test_client()
    statements: list[str] = []

    @event.listens_for(container.engine, "before_cursor_execute")
    def _count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    run = secrets.token_hex(3)
    headers = {"Accept": "application/json"}

    def post(n: int) -> None:
        answer = client.post("/api/v1/subscribe", headers=headers,
                             json={"email": f"p-{run}-{n}@example.fi", "consent": True})
        assert answer.status_code == 202, answer.data

    for n in range(50):  # warm caches and the pool
        post(n)
    statements.clear()
    post(50)
    print("statements of one opt-in:")
    for s in statements:
        print("  ", " ".join(s.split())[:150])
    print(f"  = {len(statements)} statements (BEGIN and COMMIT by the driver not included)")

    statements.clear()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for n in range(100, 100 + args.requests):
        post(n)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(f"\n{args.requests} opt-ins: {cpu / args.requests * 1000:.2f} ms CPU and "
          f"{wall / args.requests * 1000:.2f} ms wall per request (this process only), "
          f"{len(statements) / args.requests:.1f} statements per request")
    kinds = Counter(s.split()[0].upper() for s in statements)
    print("  by kind:", dict(kinds))

    profiler = cProfile.Profile()
    profiler.enable()
    for n in range(10_000, 10_000 + args.requests):
        post(n)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)
    container.close()


def main() -> None:
    """Profile on the chosen database."""
    args = parse_args()
    work_dir = Path(tempfile.mkdtemp(prefix="consent-profile-"))
    if args.sqlite:
        profile(f"sqlite:///{work_dir / 'consent.sqlite3'}", work_dir, args)
        return
    name = "consent_profile_" + secrets.token_hex(4)
    with throwaway_database(args.postgres, name, keep=False) as url:
        libpq(url)
        profile(url, work_dir, args)


if __name__ == "__main__":
    main()

"""Where one opt-in spends its time: SQL statements, CPU per part, and a profile, in-process.

    .venv/bin/python bench/optin_profile.py [--requests 400] [--top 25] [--sqlite]

It migrates a throwaway PostgreSQL database (or a temporary SQLite file), builds the real app
with the benchmark's settings (double opt-in, no SMTP, no worker, a huge rate limit), and sends
opt-ins with unique addresses through Flask's test client: no HTTP and no gunicorn, so this
isolates the application's own cost. It prints

- the statements one opt-in runs (BEGIN, COMMIT and the pool's ping come on top);
- CPU milliseconds of this process per request: the whole request, the request without the
  rate limiter, the use case alone (parse_opt_in + request_opt_in), its parts (address and
  phone validation, the evidence JSON, the confirmation token) and, for scale, a transaction
  with one INSERT through the same engine (what the baseline app does);
- a cProfile (CPU time) of the whole request, and its own time by package.

Not a benchmark: PostgreSQL's own CPU, gunicorn's HTTP handling and contention between workers
are not in these figures (bench/optin.py reports the CPU split of a real run).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

from harness import throwaway_database  # noqa: E402


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="per measurement")
    parser.add_argument("--top", type=int, default=25, help="profile lines to print (0: none)")
    parser.add_argument("--sqlite", action="store_true", help="profile on SQLite instead")
    parser.add_argument("--postgres", default=os.environ.get(
        "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432"))
    return parser.parse_args()


def package_of(filename: str) -> str:
    """Return the top-level package a profiled function lives in."""
    path = filename.replace("\\", "/")
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/")[0].removesuffix(".py")
    if "/service/" in path:
        return "service." + path.split("/service/", 1)[1].split("/")[0].removesuffix(".py")
    if path.startswith("<") or path == "~":
        return "builtins"
    return "stdlib:" + Path(path).stem


ROUNDS = 3


def cpu_ms(label: str, n: int, action: Callable[[int], Any]) -> float:
    """Run action n times, ROUNDS times over, and print the least CPU ms per call.

    The least of a few rounds is the figure least disturbed by whatever else the machine runs.
    """
    for i in range(min(20, n)):
        action(-1 - i)
    rounds = []
    for _ in range(ROUNDS):
        started = time.process_time()
        for i in range(n):
            action(i)
        rounds.append((time.process_time() - started) / n * 1000)
    print(f"  {label:52} {min(rounds):7.3f} ms CPU  (rounds: "
          + ", ".join(f"{r:.2f}" for r in rounds) + ")")
    return min(rounds)


def profile(url: str, work_dir: Path, args: argparse.Namespace) -> None:
    """Build the app on url and measure opt-ins through the test client."""
    from service.bootstrap import build
    from service.domain import optin
    from service.domain.normalize import parse_email, parse_phone
    from service.domain.tokens import Purpose
    from service.settings import load_settings
    from service.web import create_app

    settings = load_settings({
        "CONSENT_DATABASE_URL": url,
        "CONSENT_SECRET_KEYS": secrets.token_urlsafe(32),
        "CONSENT_OPTIN_RATE_LIMIT": "100000000/minute",
        "CONSENT_DATA_DIR": str(work_dir / "data"),
    })
    container = build(settings, migrate=True)
    app = create_app(container=container)
    client = app.test_client()
    limiter = app.extensions["consent.limiter"]
    statements: list[str] = []

    @event.listens_for(container.engine, "before_cursor_execute")
    def _count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    run = secrets.token_hex(3)
    serial = iter(range(10**9))
    headers = {"Accept": "application/json"}

    def post(_n: int) -> None:
        answer = client.post("/api/v1/subscribe", headers=headers, json={
            "email": f"p-{run}-{next(serial)}@example.fi", "consent": True})
        assert answer.status_code == 202, answer.data

    def use_case(_n: int) -> None:
        form = optin.parse_opt_in({"email": f"p-{run}-{next(serial)}@example.fi",
                                   "consent": True}, default_language="fi")
        optin.request_opt_in(container.uow(), container.deps, form,
                             optin.RequestContext(ip="127.0.0.1", user_agent="bench"))

    def one_insert(_n: int) -> None:
        with container.engine.begin() as conn:
            conn.execute(text("INSERT INTO audit_log (occurred_at, actor_type, action)"
                              " VALUES (CURRENT_TIMESTAMP, 'system', 'bench')"))

    post(0)
    statements.clear()
    post(0)
    print("statements of one opt-in (a new address):")
    for statement in statements:
        print("  ", " ".join(statement.split())[:110])
    print(f"  = {len(statements)} statements\n")

    n = args.requests
    print(f"CPU of this process per call, {ROUNDS} rounds of {n} calls each, the least:")
    statements.clear()
    cpu_ms("POST /api/v1/subscribe (test client)", n, post)
    per_request = len(statements) / (ROUNDS * n + min(20, n))
    limiter.enabled = False
    cpu_ms("  the same without the rate limiter", n, post)
    limiter.enabled = True
    cpu_ms("  parse_opt_in + request_opt_in (the use case)", n, use_case)
    cpu_ms("    parse_opt_in (email-validator, no DNS)", n * 5, lambda i: optin.parse_opt_in(
        {"email": f"p-{run}-{i}@example.fi", "consent": True}, default_language="fi"))
    cpu_ms("    parse_email alone", n * 5, lambda i: parse_email(f"p-{run}-{i}@example.fi"))
    cpu_ms("    parse_phone (phonenumbers; not in the bench body)", n * 5,
           lambda _i: parse_phone("040 123 4567"))
    fields = {"email": "someone@example.fi", "consent": True, "name": "Maija Meikäläinen"}
    cpu_ms("    evidence JSON", n * 5,
           lambda _i: json.dumps(fields, ensure_ascii=False, sort_keys=True))
    cpu_ms("    confirmation token", n * 5, lambda i: container.deps.tokens.sign(
        Purpose.CONFIRM, {"c": "3f0c1a52-8d1e-4c53-9d3b-0d1d6f3f9a11", "r": i, "ch": ["email"]}))
    cpu_ms("a transaction with one INSERT (the baseline's work)", n, one_insert)
    print(f"  ({per_request:.1f} statements per opt-in)\n")

    if args.top > 0:
        profiler = cProfile.Profile(time.process_time)  # CPU, not time waiting for the server
        profiler.enable()
        for i in range(n):
            post(i)
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
        by_package: Counter[str] = Counter()
        for (filename, _line, _name), row in stats.stats.items():  # type: ignore[attr-defined]
            by_package[package_of(filename)] += row[2]  # own time
        total = sum(by_package.values())
        print(f"own CPU time by package (under the profiler, {n} opt-ins):")
        for package, seconds in by_package.most_common(20):
            print(f"  {package:28} {seconds / total:6.1%}")
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
        profile(url, work_dir, args)


if __name__ == "__main__":
    main()

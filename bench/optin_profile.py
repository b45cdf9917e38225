"""Where one opt-in, confirmation or one-click spends its time: statements, CPU, a profile.

    .venv/bin/python bench/optin_profile.py [--path all] [--requests 400] [--top 25] [--sqlite]

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

--path confirm and --path one-click do the same for `POST /confirm/<token>` (JSON; each request
confirms a pending opt-in made beforehand) and for an RFC 8058 one-click
`POST /unsubscribe/<token>` (each request withdraws a subscriber seeded beforehand as
`consent import` leaves them): the statements, CPU per request and per use case, the profile.
--path all (the default) does the three in turn.

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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import event, select, text

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

from harness import throwaway_database  # noqa: E402

PATHS = ("opt-in", "confirm", "one-click")


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="per measurement")
    parser.add_argument("--top", type=int, default=25, help="profile lines to print (0: none)")
    parser.add_argument("--path", choices=("all", *PATHS), default="all",
                        help="which request to profile")
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


class Profiled:
    """The real app on one database, its test client, and the statements it runs."""

    def __init__(self, url: str, work_dir: Path) -> None:
        """Build the app with the benchmark's settings and count the statements it runs."""
        from service.bootstrap import build
        from service.settings import load_settings
        from service.web import create_app

        settings = load_settings({
            "CONSENT_DATABASE_URL": url,
            "CONSENT_SECRET_KEYS": secrets.token_urlsafe(32),
            "CONSENT_OPTIN_RATE_LIMIT": "100000000/minute",
            "CONSENT_DATA_DIR": str(work_dir / "data"),
        })
        self.container = build(settings, migrate=True)
        self.app = create_app(container=self.container)
        self.client = self.app.test_client()
        self.limiter = self.app.extensions["consent.limiter"]
        self.statements: list[str] = []
        self.run = secrets.token_hex(3)
        self.serial = iter(range(10**9))

        @event.listens_for(self.container.engine, "before_cursor_execute")
        def _count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            self.statements.append(statement)

    def address(self) -> str:
        """Return an address not used before."""
        return f"p-{self.run}-{next(self.serial)}@example.fi"

    def show_statements(self, what: str, request: Callable[[int], Any]) -> None:
        """Print the statements of one request (after one to warm up)."""
        request(0)
        self.statements.clear()
        request(0)
        print(f"statements of one {what}:")
        for statement in self.statements:
            print("  ", " ".join(statement.split())[:110])
        print(f"  = {len(self.statements)} statements\n")

    def measure(self, label: str, n: int, request: Callable[[int], Any]) -> None:
        """Print CPU per request and the statements per request over the measurement."""
        self.statements.clear()
        cpu_ms(label, n, request)
        per_request = len(self.statements) / (ROUNDS * n + min(20, n))
        print(f"    ({per_request:.1f} statements per request)")

    def without_limiter(self, label: str, n: int, request: Callable[[int], Any]) -> None:
        """Print CPU per request with the rate limiter switched off."""
        self.limiter.enabled = False
        cpu_ms(label, n, request)
        self.limiter.enabled = True


def opt_in(profiled: Profiled, args: argparse.Namespace) -> Callable[[int], Any]:
    """Measure opt-ins of new addresses; return one request, for the profile."""
    from service.domain import optin
    from service.domain.normalize import parse_email, parse_phone
    from service.domain.tokens import Purpose

    container, run = profiled.container, profiled.run
    headers = {"Accept": "application/json"}

    def post(_n: int) -> None:
        answer = profiled.client.post("/api/v1/subscribe", headers=headers, json={
            "email": profiled.address(), "consent": True})
        assert answer.status_code == 202, answer.data

    def use_case(_n: int) -> None:
        form = optin.parse_opt_in({"email": profiled.address(), "consent": True},
                                  default_language="fi")
        optin.request_opt_in(container.uow(), container.deps, form,
                             optin.RequestContext(ip="127.0.0.1", user_agent="bench"))

    def one_insert(_n: int) -> None:
        with container.engine.begin() as conn:
            conn.execute(text("INSERT INTO audit_log (occurred_at, actor_type, action)"
                              " VALUES (CURRENT_TIMESTAMP, 'system', 'bench')"))

    profiled.show_statements("opt-in (a new address)", post)
    n = args.requests
    print(f"CPU of this process per call, {ROUNDS} rounds of {n} calls each, the least:")
    profiled.measure("POST /api/v1/subscribe (test client)", n, post)
    profiled.without_limiter("  the same without the rate limiter", n, post)
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
    print()
    return post


def pending_links(profiled: Profiled, count: int) -> Iterator[str]:
    """Make count pending double opt-ins through the use case; yield their confirmation tokens."""
    from service.domain import links, optin
    from service.domain.models import Contact, Subscription

    container = profiled.container
    context = optin.RequestContext(ip="127.0.0.1", user_agent="bench")
    made = []
    for _ in range(count):
        form = optin.parse_opt_in({"email": profiled.address(), "consent": True},
                                  default_language="fi")
        optin.request_opt_in(container.uow(), container.deps, form, context)
        made.append(form.address.key)
    with container.uow() as uow:
        rows = uow.session.execute(
            select(Contact.public_id, Subscription.last_event_id)
            .join(Subscription, Subscription.contact_id == Contact.id)
            .where(Contact.email_key.in_(made))
        ).all()
    for public_id, event_id in rows:
        yield links.token(container.deps, links.ConfirmLink(public_id, ("email",), event_id))


def confirm(profiled: Profiled, args: argparse.Namespace) -> Callable[[int], Any]:
    """Measure confirmations of pending opt-ins; return one request, for the profile."""
    from service.domain import optin

    container, n = profiled.container, args.requests
    # Every call below takes a fresh pending opt-in: warm-ups, rounds and the profile.
    wanted = 2 + 3 * (min(20, n) + ROUNDS * n) + n
    print(f"(making {wanted} pending opt-ins to confirm...)")
    tokens = pending_links(profiled, wanted)
    headers = {"Accept": "application/json"}

    def post(_n: int) -> None:
        answer = profiled.client.post(f"/confirm/{next(tokens)}", headers=headers)
        assert answer.status_code == 200, answer.data

    def use_case(_n: int) -> None:
        optin.confirm_opt_in(container.uow(), container.deps, next(tokens),
                             optin.RequestContext(ip="127.0.0.1", user_agent="bench"))

    profiled.show_statements("confirmation (a pending email opt-in)", post)
    print(f"CPU of this process per call, {ROUNDS} rounds of {n} calls each, the least:")
    profiled.measure("POST /confirm/<token> (test client, JSON)", n, post)
    cpu_ms("  confirm_opt_in (the use case)", n, use_case)
    print()
    return post


def subscribers(profiled: Profiled, count: int) -> Iterator[str]:
    """Seed count email subscribers as an import leaves them; yield their unsubscribe tokens."""
    from unsubscribe import seed_subscribers

    from service.domain import links

    deps = profiled.container.deps
    for public_id in seed_subscribers(profiled.container.settings.database_url,
                                      f"one-click-{profiled.run}", count):
        yield links.token(deps, links.UnsubscribeLink(public_id, "email"))


def one_click(profiled: Profiled, args: argparse.Namespace) -> Callable[[int], Any]:
    """Measure RFC 8058 one-clicks of subscribers; return one request, for the profile."""
    from service.domain import optin, unsubscribe

    container, n = profiled.container, args.requests
    wanted = 2 + 3 * (min(20, n) + ROUNDS * n) + n
    tokens = subscribers(profiled, wanted)
    form = {"List-Unsubscribe": "One-Click"}

    def post(_n: int) -> None:
        answer = profiled.client.post(f"/unsubscribe/{next(tokens)}", data=form)
        assert answer.status_code == 200, answer.data

    def use_case(_n: int) -> None:
        outcome = unsubscribe.withdraw_by_link(
            container.uow(), container.deps, next(tokens),
            optin.RequestContext(ip="127.0.0.1", user_agent="bench"), one_click=True)
        assert outcome.changed == ("email",)

    profiled.show_statements("one-click unsubscribe (a subscriber)", post)
    print(f"CPU of this process per call, {ROUNDS} rounds of {n} calls each, the least:")
    profiled.measure("POST /unsubscribe/<token> one-click (test client)", n, post)
    profiled.without_limiter("  the same without the rate limiter", n, post)
    cpu_ms("  withdraw_by_link (the use case)", n, use_case)
    print()
    return post


def print_profile(what: str, request: Callable[[int], Any], n: int, top: int) -> None:
    """Print a cProfile (CPU time) of n requests and their own time by package."""
    profiler = cProfile.Profile(time.process_time)  # CPU, not time waiting for the server
    profiler.enable()
    for i in range(n):
        request(i)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    by_package: Counter[str] = Counter()
    for (filename, _line, _name), row in stats.stats.items():  # type: ignore[attr-defined]
        by_package[package_of(filename)] += row[2]  # own time
    total = sum(by_package.values())
    print(f"own CPU time by package (under the profiler, {n} of {what}):")
    for package, seconds in by_package.most_common(20):
        print(f"  {package:28} {seconds / total:6.1%}")
    print()


MEASURES = {"opt-in": opt_in, "confirm": confirm, "one-click": one_click}


def profile(url: str, work_dir: Path, args: argparse.Namespace) -> None:
    """Build the app on url and measure the chosen paths through the test client."""
    profiled = Profiled(url, work_dir)
    for path in PATHS if args.path == "all" else (args.path,):
        print(f"== {path}")
        request = MEASURES[path](profiled, args)
        if args.top > 0:
            print_profile(path, request, args.requests, args.top)
    profiled.container.close()


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

"""Timing benchmark: does an answer's duration tell who is subscribed?

An opt-in for an address already on the register records nothing; one for a new address writes
a contact, an event, its evidence, a subscription, a mail and a mirror note. A request for
one's unsubscribe link queues a mail for a subscribed address and nothing for an unknown one.
Each pair answers the same words; this measures whether they also take the same time. The
service runs under gunicorn on a throwaway PostgreSQL database (one worker, so every request
meets the same process), requests go one at a time over a kept-alive connection, known and new
addresses interleaved at random, and the script prints each kind's median and spread, the
difference of the medians, and how often the best single threshold on the duration guesses
right (50 % is a coin toss).

    .venv/bin/python bench/timing.py [--requests 400] [--warmup 100]

Goal (issue 12): the medians differ by less than 1 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

GOAL_MS = 1.0
KNOWN = "known.person@example.fi"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=harness.DEFAULT_POSTGRES)
    parser.add_argument("--requests", type=int, default=400, help="of each kind")
    parser.add_argument("--warmup", type=int, default=100, help="of each kind, not counted")
    parser.add_argument("--keep-db", action="store_true")
    return parser.parse_args(argv)


def opt_in(email: str) -> harness.Request:
    """Return one JSON opt-in request."""
    body = json.dumps({"email": email, "consent": True}).encode()
    return ("POST", "/api/v1/subscribe", body,
            {"Content-Type": "application/json", "Accept": "application/json"})


def best_guess_rate(known: list[float], new: list[float]) -> float:
    """Return how often the best threshold on the duration tells the two kinds apart."""
    labelled = sorted([(d, 0) for d in known] + [(d, 1) for d in new])
    total, new_total = len(labelled), len(new)
    best = new_before = 0
    for index, (_, kind) in enumerate(labelled, start=1):
        new_before += kind
        # "known below the threshold": right for the known below and the new above it.
        right = (index - new_before) + (new_total - new_before)
        best = max(best, right, total - right)
    return best / total


def put_on_the_register(env: dict[str, str], email: str) -> None:
    """Record a consent given at the desk for the address, as staff would."""
    from service.bootstrap import build
    from service.domain import ledger
    from service.domain.ledger import Actor
    from service.domain.models import EventKind, Method
    from service.domain.normalize import parse_email
    from service.settings import load_settings

    container = build(load_settings(env), migrate=False)
    now = container.clock.now()
    with container.uow() as uow:
        person, _ = ledger.upsert_contact(uow.session, parse_email(email), name=None,
                                          phone=None, language="fi", now=now)
        ledger.record(uow.session, person, "email", EventKind.GRANTED, Method.VERBAL_IN_PERSON,
                      Actor.person(), now=now)
        uow.commit()
    container.close()


def link_request(email: str) -> harness.Request:
    """Return one "send me my unsubscribe link" form post."""
    return ("POST", "/unsubscribe", urlencode({"email": email}).encode(),
            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"})


PATHS: dict[str, Callable[[str], harness.Request]] = {
    "opt-in": opt_in, "link request": link_request,
}


def measure(port: int, path: str, count: int, rng: random.Random
            ) -> tuple[list[float], list[float]]:
    """Send count requests of each kind in random order; return their durations in ms."""
    client = harness.Client(port)
    kinds = ["known"] * count + ["new"] * count
    rng.shuffle(kinds)
    durations: dict[str, list[float]] = {"known": [], "new": []}
    for kind in kinds:
        email = KNOWN if kind == "known" else f"new-{secrets.token_hex(6)}@example.fi"
        started = time.perf_counter()
        status = client.send(PATHS[path](email))
        took = (time.perf_counter() - started) * 1000
        if status != 202:
            raise RuntimeError(f"{path} answered {status}")
        durations[kind].append(took)
    client.close()
    return durations["known"], durations["new"]


def describe(values: list[float]) -> dict[str, float]:
    """Return median, quartiles and p90 of durations in ms."""
    ordered = sorted(values)
    quartiles = statistics.quantiles(ordered, n=4)
    return {"median": statistics.median(ordered), "q1": quartiles[0], "q3": quartiles[2],
            "p90": harness.percentile(ordered, 90)}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 when the medians differ by less than the goal."""
    args = parse_args(argv)
    run = harness.run_id()
    work_dir = Path(tempfile.mkdtemp(prefix="consent-timing-"))
    db_name = "consent_timing_" + run.replace("-", "_")
    rng = random.Random(run)
    with harness.throwaway_database(args.postgres, db_name, args.keep_db) as url:
        env = {**os.environ, "CONSENT_DATABASE_URL": url,
               "CONSENT_SECRET_KEYS": secrets.token_urlsafe(32),
               "CONSENT_OPTIN_RATE_LIMIT": "100000000/minute",
               "CONSENT_DATA_DIR": str(work_dir / "data"), "PYTHONUNBUFFERED": "1"}
        harness.consent_db_upgrade(env)
        server = harness.Gunicorn("service", "service.wsgi:app", env,
                                  harness.gunicorn_options(1, 4), work_dir)
        server.start()
        try:
            put_on_the_register(env, KNOWN)
            measured = {}
            for path in PATHS:
                measure(server.port, path, args.warmup, rng)
                measured[path] = measure(server.port, path, args.requests, rng)
        finally:
            server.stop()
    results: dict[str, Any] = {
        "run": run, "commit": harness.git_commit(), "machine": harness.machine(),
        "requests_each": args.requests, "paths": {},
    }
    met = True
    for path, (known, new) in measured.items():
        figures = {"known_ms": describe(known), "new_ms": describe(new)}
        difference = abs(figures["known_ms"]["median"] - figures["new_ms"]["median"])
        figures["median_difference_ms"] = difference
        figures["best_guess_rate"] = best_guess_rate(known, new)
        results["paths"][path] = figures
        met = met and difference < GOAL_MS
        print(f"{path}:")
        for kind, label in (("known", "subscribed"), ("new", "unknown")):
            f = figures[f"{kind}_ms"]
            print(f"  {label:>10} address: median {f['median']:.2f} ms "
                  f"(q1 {f['q1']:.2f}, q3 {f['q3']:.2f}, p90 {f['p90']:.2f})")
        print(f"  difference of the medians: {difference:.2f} ms (goal < {GOAL_MS:.0f} ms); "
              f"best threshold guesses right {figures['best_guess_rate']:.0%} of the time")
    out = harness.write_results("timing", run, results)
    print(f"results: {out.relative_to(harness.REPO)}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

"""Interleaved rounds: the service, the same-work floor and the baseline measured in turn.

Each round measures every app once (service, floor, baseline), so slow drifts of a shared
machine fall on all of them alike; the figures are the median of the rounds, with their spread
(lowest and highest). Then the service and the floor are driven open loop at fixed rates.
bench/optin.py and bench/unsubscribe.py use this with their own requests.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import harness
from harness import Gunicorn

# The apps of a run, in the order of each round.
APPS = ("service", "floor", "baseline")
OPEN_RATES = (50.0, 100.0, 200.0)
QUICK = {"rounds": 1, "seconds": 4.0, "warmup": 1.0, "open_rates": (50.0, 100.0),
         "open_seconds": 4.0}

# Measure one app's closed-loop peak: (server, phase label) -> figures with rps, requests,
# errors and ok (answers of the expected status).
PeakPhase = Callable[[Gunicorn, str], dict[str, Any]]
# Drive one app open loop: (server, rate, phase label) -> harness.open_loop's figures.
OpenPhase = Callable[[Gunicorn, float, str], dict[str, Any]]


def spread(values: list[float]) -> dict[str, float]:
    """Return the median, lowest and highest of some figures."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def interleaved(servers: dict[str, Gunicorn], rounds: int, peak: PeakPhase) -> dict[str, Any]:
    """Measure every app's peak once a round, in turn; return each round and the medians."""
    per_round: list[dict[str, Any]] = []
    for n in range(rounds):
        this: dict[str, Any] = {}
        for name in APPS:
            if name in servers:
                this[name] = peak(servers[name], f"{name[0]}{n}")
                print(f"  round {n + 1}: {name:8} {this[name]['rps']:8.1f} req/s "
                      f"({this[name]['errors']} errors)", flush=True)
        per_round.append(this)
    summary: dict[str, Any] = {"rounds": per_round}
    for name in servers:
        summary[name] = spread([r[name]["rps"] for r in per_round])
    for other in ("floor", "baseline"):
        if "service" in servers and other in servers:
            ratios = [r["service"]["rps"] / r[other]["rps"] for r in per_round
                      if r[other]["rps"]]
            summary[f"service/{other}"] = spread(ratios) if ratios else None
    return summary


def open_loops(servers: dict[str, Gunicorn], rates: tuple[float, ...],
               drive: OpenPhase) -> dict[str, Any]:
    """Drive the service and the floor open loop at each rate, in turn; p50 and p99 of each."""
    out: dict[str, Any] = {}
    for rate in rates:
        for name in ("service", "floor"):
            if name in servers:
                result = drive(servers[name], rate, f"{name[0]}o{int(rate)}")
                out[f"{name}@{rate:g}"] = result
                print(f"  open {rate:5.0f} req/s: {name:8} p50 {harness.ms(result['p50_ms'])}"
                      f" ms, p99 {harness.ms(result['p99_ms'])} ms, "
                      f"{result['errors']} errors, {result['dropped_unsent']} dropped",
                      flush=True)
    return out


def print_summary(title: str, peaks: dict[str, Any], opened: dict[str, Any],
                  rates: tuple[float, ...]) -> None:
    """Print the medians, spreads, ratios and open-loop percentiles."""
    print()
    print(title)
    print(f"{'peak req/s (median of rounds)':34}{'median':>10}{'min':>10}{'max':>10}")
    for name in APPS:
        if name in peaks:
            s = peaks[name]
            print(f"{name:34}{s['median']:10.1f}{s['min']:10.1f}{s['max']:10.1f}")
    for other in ("floor", "baseline"):
        s = peaks.get(f"service/{other}")
        if s:
            print(f"{'ratio service/' + other:34}{s['median']:10.2f}{s['min']:10.2f}"
                  f"{s['max']:10.2f}")
    if opened:
        print(f"{'open loop':18}{'service p50':>14}{'p99':>10}{'floor p50':>12}{'p99':>10}"
              f"{'p99 ratio':>11}")
        for rate in rates:
            ours, floor = opened.get(f"service@{rate:g}"), opened.get(f"floor@{rate:g}")
            if not ours or not floor:
                continue
            ratio = ours["p99_ms"] / floor["p99_ms"] if floor["p99_ms"] else float("nan")
            print(f"{rate:10.0f} req/s {harness.ms(ours['p50_ms']):>14}"
                  f"{harness.ms(ours['p99_ms']):>10}{harness.ms(floor['p50_ms']):>12}"
                  f"{harness.ms(floor['p99_ms']):>10}{ratio:11.2f}")


def answered_ok(results: list[dict[str, Any]]) -> int:
    """Return how many requests of some phases were answered with the expected status."""
    return sum(int(r.get("ok", 0)) for r in results)


# Issue 16's goals: the service reaches this share of the floor's peak, and its p99 in the open
# loop at 100 req/s and above is at most this many times the floor's.
GOAL_FLOOR_RATIO = 0.9
GOAL_P99_FACTOR = 2.0


def floor_goals_met(peaks: dict[str, Any], opened: dict[str, Any],
                    rates: tuple[float, ...]) -> bool:
    """Print and return whether the service meets issue 16's goals against the floor."""
    ok = True
    ratio = peaks.get("service/floor")
    if ratio:
        met = ratio["median"] >= GOAL_FLOOR_RATIO
        ok &= met
        print(f"service/floor {ratio['median']:.2f} (goal >= {GOAL_FLOOR_RATIO}): "
              f"{'PASS' if met else 'FAIL'}")
    for rate in rates:
        ours = opened.get(f"service@{rate:g}")
        floor = opened.get(f"floor@{rate:g}")
        if rate >= 100 and ours and floor:
            met = ours["p99_ms"] <= GOAL_P99_FACTOR * floor["p99_ms"]
            ok &= met
            print(f"p99 at {rate:.0f} req/s: service {harness.ms(ours['p99_ms'])} ms, floor "
                  f"{harness.ms(floor['p99_ms'])} ms (goal <= {GOAL_P99_FACTOR:g}x): "
                  f"{'PASS' if met else 'FAIL'}")
    return ok

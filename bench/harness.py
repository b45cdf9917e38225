"""Pieces the benchmarks share: a throwaway database, gunicorn, wrk, an open-loop generator.

Each benchmark under bench/ measures the real service and a small baseline app under identical
gunicorn settings in the same run, and reports the ratio. This module holds what they have in
common; the scripts hold what they measure.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import platform
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
HOST = "127.0.0.1"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"


# --------------------------------------------------------------------------- the database


def pg_admin_url(base: str) -> str:
    """Return a libpq URL for the maintenance database of the server named by `base`."""
    return base.replace("postgresql+psycopg://", "postgresql://", 1).rstrip("/") + "/postgres"


def libpq(url: str) -> str:
    """Turn a SQLAlchemy PostgreSQL URL into one psycopg accepts."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@contextlib.contextmanager
def throwaway_database(base: str, name: str, keep: bool = False) -> Iterator[str]:
    """Create a database, yield its SQLAlchemy URL, and drop it afterwards."""
    with psycopg.connect(pg_admin_url(base), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.rstrip("/") + "/" + name
    finally:
        if keep:
            print(f"kept database {name}")
        else:
            with psycopg.connect(pg_admin_url(base), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def count_rows(url: str, sql: str) -> int:
    """Return the single integer a query answers."""
    with psycopg.connect(libpq(url)) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def consent_db_upgrade(env: dict[str, str]) -> None:
    """Migrate the database named in env the way production does: `consent db upgrade`."""
    migrate = subprocess.run(
        [sys.executable, "-c", "from service.cli import main; main()", "db", "upgrade"],
        env=env, cwd=REPO, capture_output=True, text=True, check=False,
    )
    if migrate.returncode != 0:
        raise RuntimeError(f"consent db upgrade failed:\n{migrate.stderr}")


# --------------------------------------------------------------------------- the servers


def free_port() -> int:
    """Return a TCP port on the loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def gunicorn_options(workers: int, threads: int) -> list[str]:
    """Return the gunicorn settings every app of a run gets."""
    return [
        "--workers", str(workers),
        "--threads", str(threads),
        "--worker-class", "gthread",
        "--keep-alive", "5",
        "--backlog", "2048",
        "--graceful-timeout", "5",
        "--log-level", "warning",
    ]


@dataclass
class Gunicorn:
    """One gunicorn master (and its workers) serving one app on the loopback."""

    name: str
    app: str
    env: dict[str, str]
    options: list[str]
    log_dir: Path
    pythonpath: Path | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        """Return the file that gets gunicorn's output."""
        return self.log_dir / f"gunicorn-{self.name}.log"

    def start(self, timeout: float = 60.0) -> None:
        """Start gunicorn and wait until every worker has answered (or fail with its log)."""
        cmd = [sys.executable, "-m", "gunicorn", "--bind", f"{HOST}:{self.port}", *self.options]
        if self.pythonpath:
            cmd += ["--pythonpath", str(self.pythonpath)]
        cmd.append(self.app)
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                cmd, env=self.env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        answers = 0
        while answers < 20:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited:\n{self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: not ready in {timeout:.0f} s:\n"
                                   f"{self.log.read_text()[-3000:]}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    answers += 1  # fresh connections spread over the workers as they boot
                conn.close()
            except OSError:
                time.sleep(0.2)
                continue
            time.sleep(0.05)

    def worker_pids(self) -> list[int]:
        """Return the process ids of the master's workers (its children)."""
        if self.process is None:
            return []
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(p) for p in children.read_text().split()]
        except OSError:
            return []

    def stop(self) -> None:
        """Stop gunicorn gracefully, then by force."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # SIGTERM: the master stops its workers
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def process_memory(pid: int) -> dict[str, int]:
    """Return a process's VmRSS and VmHWM (peak RSS) in KiB, and its CPU ticks."""
    figures: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                figures[key] = int(value.split()[0])
        stat = Path(f"/proc/{pid}/stat").read_text()
        # Fields after the command name (which may hold spaces) start after the last ")".
        rest = stat[stat.rindex(")") + 2:].split()
        figures["cpu_ticks"] = int(rest[11]) + int(rest[12])  # utime + stime
    return figures


def backend_pids(url: str) -> list[int]:
    """Return the PostgreSQL server processes serving connections to this database (local)."""
    with psycopg.connect(libpq(url)) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(r[0]) for r in rows]


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """Return each process's CPU time so far, in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    return {pid: process_memory(pid).get("cpu_ticks", 0) / tick for pid in pids}


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """Return the CPU seconds used between two samples (a process new in `after` counts whole)."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


# --------------------------------------------------------------------------- load generators


def percentile(sorted_values: list[float], p: float) -> float:
    """Return the p-th percentile (nearest rank) of sorted values; NaN when there are none."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def run_wrk(port: int, path: str, seconds: float, connections: int, threads: int,
            script: Path, script_args: list[str]) -> dict[str, Any]:
    """Run wrk closed loop with a Lua script that prints a BENCH_JSON line; return its figures.

    The script's done() must print `BENCH_JSON {...}` with requests, duration_us, the error
    counters (connect, read, write, status, timeout) and p50_us/p90_us/p99_us; any further keys
    are passed through under "extra".
    """
    cmd = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        "--timeout", "10s", "-s", str(script), f"http://{HOST}:{port}{path}", "--",
        *script_args,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60,
                          check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    counters = ("connect", "read", "write", "status", "timeout")
    errors = sum(raw[k] for k in counters)
    duration = raw["duration_us"] / 1e6
    known = {"requests", "duration_us", "p50_us", "p90_us", "p99_us", *counters}
    return {
        "tool": "wrk",
        "requests": raw["requests"],
        "errors": errors,
        "error_detail": {k: raw[k] for k in counters},
        "seconds": duration,
        "rps": (raw["requests"] - errors) / duration,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw.get("p90_us", math.nan) / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "extra": {k: v for k, v in raw.items() if k not in known},
    }


# One request of a load: method, path, body, headers.
Request = tuple[str, str, bytes | None, dict[str, str]]


class Client:
    """One keep-alive HTTP connection that reconnects after an error."""

    def __init__(self, port: int) -> None:
        """Remember where to connect."""
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def send(self, request: Request) -> int:
        """Send one request and return the status (0 for a transport error).

        A kept-alive connection the server closed while idle (gunicorn's --keep-alive) fails
        before any answer; like any HTTP client, that is retried once on a fresh connection.
        """
        method, path, body, headers = request
        for attempt in (1, 2):
            reused = self.conn is not None
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(HOST, self.port, timeout=10)
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                response.read()
                return response.status
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if not reused or attempt == 2:
                    return 0
            except (OSError, http.client.HTTPException):
                self.close()
                return 0
        return 0

    def close(self) -> None:
        """Close the connection."""
        if self.conn is not None:
            self.conn.close()
        self.conn = None


def closed_loop(port: int, seconds: float, connections: int,
                make_request: Callable[[int], Request], ok: int) -> dict[str, Any]:
    """Send back-to-back requests on many keep-alive connections for a while (no wrk).

    Request n of the run is make_request(n); only answers with status `ok` count as served.
    """
    counter = iter(range(10**9))
    lock = threading.Lock()
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    def work() -> None:
        nonlocal errors
        client = Client(port)
        mine: list[float] = []
        bad = 0
        while time.perf_counter() < stop_at:
            with lock:
                n = next(counter)
            t0 = time.perf_counter()
            if client.send(make_request(n)) == ok:
                mine.append(time.perf_counter() - t0)
            else:
                bad += 1
        client.close()
        with lock:
            latencies.extend(mine)
            errors += bad

    started = time.perf_counter()
    workers = [threading.Thread(target=work, daemon=True) for _ in range(connections)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(seconds + 30)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "tool": "python-closed-loop",
        "requests": len(latencies) + errors,
        "errors": errors,
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p90_ms": percentile(latencies, 90) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def open_loop(port: int, rate: float, seconds: float, connections: int,
              make_request: Callable[[int], Request], ok: int) -> dict[str, Any]:
    """Send requests at a fixed rate whatever the answers do; latency counts from the schedule.

    A scheduler releases request n at start + n/rate; a pool of connections sends them. A
    request that waits for a free connection is late, and that lateness is part of its latency
    (no coordinated omission): this is what a caller would see at this arrival rate.
    A server that cannot keep up would take ever longer to drain the backlog: requests still
    unsent `grace` seconds after the schedule ends are dropped and count as infinitely slow.
    Only answers with status `ok` count as served.
    """
    total = max(1, int(rate * seconds))
    interval = 1.0 / rate
    todo: queue.SimpleQueue[tuple[int, float] | None] = queue.SimpleQueue()
    lock = threading.Lock()
    latencies: list[float] = []
    service: list[float] = []
    errors = dropped = 0
    statuses: Counter[int] = Counter()
    grace = max(5.0, seconds / 2)
    give_up = time.perf_counter() + 0.1 + seconds + grace

    def work() -> None:
        nonlocal errors, dropped
        client = Client(port)
        mine: list[float] = []
        served: list[float] = []
        bad = skipped = 0
        seen: Counter[int] = Counter()
        while (item := todo.get()) is not None:
            n, due = item
            sent = time.perf_counter()
            if sent > give_up:
                skipped += 1
                continue
            status = client.send(make_request(n))
            finished = time.perf_counter()
            seen[status] += 1
            if status == ok:
                mine.append(finished - due)
                served.append(finished - sent)
            else:
                bad += 1
        client.close()
        with lock:
            latencies.extend(mine)
            service.extend(served)
            errors += bad
            dropped += skipped
            statuses.update(seen)

    workers = [threading.Thread(target=work, daemon=True) for _ in range(connections)]
    for w in workers:
        w.start()
    start = time.perf_counter() + 0.1
    behind = 0.0
    for n in range(total):
        due = start + n * interval
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        else:
            behind = max(behind, -wait)
        todo.put((n, due))
    for _ in workers:
        todo.put(None)
    for w in workers:
        w.join(seconds + 60)
    elapsed = time.perf_counter() - start
    served_count = len(latencies)
    latencies.sort()
    latencies.extend([math.inf] * dropped)
    service.sort()
    return {
        "tool": "python-open-loop",
        "target_rps": rate,
        "requests": total,
        "errors": errors,
        "dropped_unsent": dropped,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "seconds": elapsed,
        "rps": served_count / elapsed,
        "scheduler_max_behind_ms": behind * 1000,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": (latencies[-1] * 1000) if latencies else math.nan,
        "gave_up_after_s": seconds + grace,
        "service_p50_ms": percentile(service, 50) * 1000,
        "service_p99_ms": percentile(service, 99) * 1000,
    }


# --------------------------------------------------------------------------- reporting


def common_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options every benchmark takes."""
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--threads", type=int, default=4,
                        help="gunicorn threads per worker, gthread (default 4)")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL",
                                                             DEFAULT_POSTGRES),
                        help="server URL without a database name (env BENCH_POSTGRES_URL)")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")


def load_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of the peak (closed loop) and latency (open loop) phases."""
    parser.add_argument("--seconds", type=float, default=15,
                        help="length of each measured phase (default 15)")
    parser.add_argument("--warmup", type=float, default=3,
                        help="unmeasured load before each peak run (default 3)")
    parser.add_argument("--connections", type=int, default=32,
                        help="concurrent keep-alive connections for the peak runs (default 32)")
    parser.add_argument("--open-connections", type=int, default=64,
                        help="connection pool of the open-loop generator (default 64)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--python-load", action="store_true",
                        help="use the Python closed-loop generator even when wrk is installed")


def ms(value: float, unit: str = "") -> str:
    """Format milliseconds; an infinite latency means the request was never answered."""
    return "never" if math.isinf(value) else f"{value:.1f}{unit}"


def finite(value: Any) -> Any:
    """Replace infinities and NaNs (not JSON) by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def git_commit() -> str | None:
    """Return the checked-out commit (with +dirty when service/ has local changes)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "service"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def machine() -> dict[str, Any]:
    """Describe the machine and its load now."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "system": platform.platform(), "load_before": os.getloadavg()}


def run_id() -> str:
    """Return a name for this run: UTC time and a few random characters."""
    import secrets

    return datetime.now(UTC).strftime("%Y%m%d%H%M%S") + "-" + secrets.token_hex(2)


def write_results(kind: str, run: str, results: dict[str, Any]) -> Path:
    """Write a run's figures as JSON to bench/results/ and return the file."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{kind}-{run}.json"
    out.write_text(json.dumps(finite(results), indent=2, default=str) + "\n")
    return out


def raise_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so servers stop and databases are dropped."""
    def on_term(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)


def has_wrk() -> bool:
    """Tell whether wrk is installed."""
    return shutil.which("wrk") is not None

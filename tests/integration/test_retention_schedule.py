"""Retention runs by itself: the worker applies it once a day (the practice's local day),
whichever of several workers asks first."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from service.cli import main
from service.domain.models import Contact
from service.runner import run_retention_if_due, run_worker
from tests.conftest import make_container
from tests.staff_support import audit_actions


def wait_until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    """Wait for a background thread's work to show (fails the test when it never does)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the worker never did it"
        time.sleep(0.05)


def live_emails(container: Any) -> set[str | None]:
    with container.session_factory() as session:
        return set(session.scalars(select(Contact.email).where(Contact.erased_at.is_(None))))


def test_the_worker_removes_unconfirmed_opt_ins_by_itself_once_they_are_due(
    client: Any, container: Any, clock: Any
) -> None:
    assert client.post("/api/v1/subscribe", json={"email": "old@example.fi",
                                                  "consent": True}).status_code == 202
    clock.advance(days=31)
    assert client.post("/api/v1/subscribe", json={"email": "new@example.fi",
                                                  "consent": True}).status_code == 202
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(container, stop), daemon=True)
    worker.start()
    try:
        wait_until(lambda: "retention.run" in audit_actions(container))
    finally:
        stop.set()
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert live_emails(container) == {"new@example.fi"}
    assert audit_actions(container).count("retention.run") == 1


def test_worker_once_from_cron_applies_the_days_retention_too(
    client: Any, container: Any, clock: Any, database_url: str, tmp_path: Path
) -> None:
    clock.current = datetime.now(UTC) - timedelta(days=40)
    assert client.post("/api/v1/subscribe", json={"email": "old@example.fi",
                                                  "consent": True}).status_code == 202
    runner = CliRunner(env={
        "CONSENT_DATABASE_URL": database_url, "CONSENT_DATA_DIR": str(tmp_path / "data"),
        "CONSENT_SECRET_KEYS": "test-key-0123456789abcdef",
        "CONSENT_PUBLIC_URL": "https://consent.example.fi"})
    first = runner.invoke(main, ["worker", "--once"])
    assert first.exit_code == 0, first.output
    assert "daily retention: removed 1 unconfirmed opt-in(s)" in first.output
    assert live_emails(container) == set()
    again = runner.invoke(main, ["worker", "--once"])
    assert again.exit_code == 0, again.output
    assert "daily retention: already done today" in again.output
    assert audit_actions(container).count("retention.run") == 1


@pytest.mark.both_databases
def test_retention_runs_once_a_local_day_whichever_worker_asks(
    settings: Any, container: Any, clock: Any
) -> None:
    other_worker = make_container(settings, clock)
    try:
        run_retention_if_due(container)
        run_retention_if_due(other_worker)
        clock.advance(hours=12)  # 23:00 in Helsinki: still the same day
        run_retention_if_due(other_worker)
        assert audit_actions(container).count("retention.run") == 1
        clock.advance(hours=1)  # midnight in Helsinki (22:00 UTC): a new day
        run_retention_if_due(other_worker)
        run_retention_if_due(container)
        assert audit_actions(container).count("retention.run") == 2
    finally:
        other_worker.close()


@pytest.mark.both_databases
def test_workers_asking_at_the_same_moment_run_it_once(
    settings: Any, container: Any, clock: Any
) -> None:
    workers = [make_container(settings, clock) for _ in range(3)]
    start = threading.Barrier(len(workers))
    failures: list[BaseException] = []

    def ask(worker: Any) -> None:
        start.wait()
        try:
            run_retention_if_due(worker)
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=ask, args=(w,)) for w in workers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for worker in workers:
            worker.close()
    assert failures == []
    assert audit_actions(container).count("retention.run") == 1


def test_the_retention_periods_come_from_the_settings(
    client: Any, settings: Any, clock: Any
) -> None:
    strict = make_container(settings, clock, retention_pending_days=2)
    try:
        assert client.post("/api/v1/subscribe", json={"email": "old@example.fi",
                                                      "consent": True}).status_code == 202
        clock.advance(days=3)
        run_retention_if_due(strict)
        assert live_emails(strict) == set()
    finally:
        strict.close()


def test_a_retention_period_that_is_not_a_number_of_days_stops_the_start() -> None:
    import pytest

    from service.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="CONSENT_RETENTION_IP_DAYS"):
        load_settings({"CONSENT_RETENTION_IP_DAYS": "a year"})

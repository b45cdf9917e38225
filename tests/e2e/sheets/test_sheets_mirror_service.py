"""The service keeps a Google Sheet tab in step, talking to the Sheets fake over HTTP.

The container is configured the way a practice configures it (CONSENT_GOOGLE_CREDENTIALS,
CONSENT_SPREADSHEET_ID, CONSENT_SHEETS_API_URL); gspread and google-auth are real. The worker
is driven with its run-once entry point; time is simulated: the service's clock and the fake's
per-minute quotas move together, and only when a test or a retry waits.
"""

from __future__ import annotations

import email
import email.policy
import logging
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import select

from service.bootstrap import Container
from service.cli import main as consent
from service.domain import ledger
from service.domain.checkpoints import LAST_DAY_STATE
from service.domain.ledger import Actor
from service.domain.models import EventKind, Method, OutboxItem, OutboxStatus, ServiceState
from service.settings import load_settings
from tests.e2e.sheets.support import (
    HEADER,
    PUBLIC_URL,
    TAB,
    SimulatedClock,
    google_container,
    keys_in_tab,
    readiness,
    settle,
    tab,
)
from tests.fakes.google_sheets import (
    DEFAULT_SERVICE_ACCOUNT,
    FakeGoogleSheets,
    Fault,
    Formula,
    SimulatedTime,
)
from tests.register_support import subscribe

CONFIRM_LINK = re.compile(r"https://consent\.example\.fi(/confirm/[A-Za-z0-9_.\-]+)")
REPO = Path(__file__).resolve().parents[3]


def api_kinds(fake: FakeGoogleSheets) -> list[str]:
    """Return "read"/"write" for each Sheets API request logged since the last clear."""
    return [r.kind for r in fake.api_requests()]


def mirror_items(container: Container) -> list[OutboxItem]:
    with container.session_factory() as session:
        return list(
            session.scalars(
                select(OutboxItem).where(OutboxItem.kind == "mirror.pass").order_by(OutboxItem.id)
            )
        )


def withdraw(container: Container, public_id: str) -> None:
    """Withdraw email consent as staff would on the person's request."""
    with container.uow() as uow:
        contact = ledger.find_contact(uow.session, public_id, lock=True)
        assert contact is not None
        ledger.record(
            uow.session,
            contact,
            "email",
            EventKind.WITHDRAWN,
            Method.STAFF_ON_REQUEST,
            Actor.person(),
            now=container.clock.now(),
        )
        uow.commit()


# -- rows appear and vanish ----------------------------------------------------------------------


def test_website_opt_in_shows_in_the_tab_once_confirmed_and_vanishes_when_unsubscribed(
    live_server: Any,
    container: Container,
    clock: SimulatedClock,
    fake: FakeGoogleSheets,
    spreadsheet_id: str,
) -> None:
    base = live_server.url
    answer = requests.post(
        f"{base}/api/v1/subscribe",
        timeout=10,
        json={"email": "maija@example.fi", "name": "Maija Meikäläinen", "consent": True},
    )
    assert answer.status_code == 202
    settle(container, clock)
    assert keys_in_tab(fake, spreadsheet_id) == [], "a pending opt-in is not on the register"

    [mail] = sorted(container.settings.outbox_dir.glob("*.eml"))
    message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
    link = CONFIRM_LINK.search(message.get_body(preferencelist=("plain",)).get_content())
    assert link
    assert requests.post(f"{base}{link.group(1)}", timeout=10).status_code == 200
    fake.clear_log()
    settle(container, clock)

    shown = tab(fake, spreadsheet_id)
    assert shown[0] == HEADER
    [row] = shown[1:]
    assert row[1:6] == ["maija@example.fi", "Maija Meikäläinen", "", "fi", "kyllä"]
    assert row[11].startswith(f"{PUBLIC_URL}/unsubscribe/")
    assert len(api_kinds(fake)) <= 2, "one pass: at most one read and one write"

    # The newsletter tool puts the row's link in its message; the person presses the button.
    answer = requests.post(base + row[11].removeprefix(PUBLIC_URL), timeout=10)
    assert answer.status_code == 200
    fake.clear_log()
    settle(container, clock)
    assert tab(fake, spreadsheet_id) == [HEADER]
    assert api_kinds(fake) == ["read", "write"]


def test_formula_like_name_arrives_in_the_tab_as_text(
    container: Container, clock: SimulatedClock, fake: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    name = '=IMPORTXML("http://x","//a")'
    subscribe(container, "x@example.fi", name=name)
    settle(container, clock)
    assert tab(fake, spreadsheet_id)[1][2] == name
    stored = fake.stored_cell(spreadsheet_id, TAB, "C2")
    assert stored == name and not isinstance(stored, Formula)


def test_any_number_of_changes_that_fit_one_request_cost_one_read_and_one_write(
    container: Container, clock: SimulatedClock, fake: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    ids = [subscribe(container, f"henkilo{i}@example.fi", name=f"Henkilö {i}") for i in range(60)]
    settle(container, clock)
    assert keys_in_tab(fake, spreadsheet_id) == ids

    for public_id in ids[3:60:4]:
        withdraw(container, public_id)
    newcomers = [
        subscribe(container, f"uusi{i}@example.fi", name=f"Uusi Äijä {i}") for i in range(25)
    ]
    fake.clear_log()
    settle(container, clock)

    kept = [public_id for public_id in ids if public_id not in ids[3:60:4]]
    assert keys_in_tab(fake, spreadsheet_id) == kept + newcomers
    assert api_kinds(fake) == ["read", "write"]
    assert (
        len([item for item in mirror_items(container) if item.status == OutboxStatus.DONE]) == 2
    ), "a burst of changes is one pass"


def test_hand_edit_is_put_right_by_the_periodic_pass_without_any_change_in_the_register(
    container: Container, clock: SimulatedClock, fake: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    subscribe(container, "maija@example.fi", name="Maija")
    settle(container, clock)
    before = tab(fake, spreadsheet_id)
    fake.set_cell(spreadsheet_id, TAB, "B2", "joku.muu@example.fi")
    fake.sort_rows(spreadsheet_id, TAB, column=1, reverse=True)
    container.schedule_mirror_pass()  # what the worker loop does every few minutes
    settle(container, clock)
    assert tab(fake, spreadsheet_id) == before


# -- Google misbehaving ----------------------------------------------------------------------------


def test_quota_storm_ends_with_the_right_tab_and_no_change_lost(
    container: Container,
    clock: SimulatedClock,
    fake: FakeGoogleSheets,
    spreadsheet_id: str,
    sim: SimulatedTime,
) -> None:
    ids = [subscribe(container, f"henkilo{i}@example.fi") for i in range(5)]
    settle(container, clock)
    fake.fail(429, times=40)  # every request answered RESOURCE_EXHAUSTED for a while
    withdraw(container, ids[1])
    late = subscribe(container, "myohainen@example.fi")
    settle(container, clock)

    status, body = readiness(container)
    assert status == 200
    assert "429" in body["mirror"]["last_error"]
    assert body["mirror"]["needs_attention"] is False
    [item] = [i for i in mirror_items(container) if i.status == OutboxStatus.PENDING]
    assert item.attempts == 1, "the failed pass stays queued"

    for _ in range(20):
        settle(container, clock, seconds=61)
    assert keys_in_tab(fake, spreadsheet_id) == [ids[0], *ids[2:], late]
    assert all(wait <= 30 for wait in sim.sleeps), "no wait longer than the cap"
    assert all(i.status == OutboxStatus.DONE for i in mirror_items(container))
    assert readiness(container)[1]["mirror"]["last_error"] is None


def test_an_hour_long_outage_loses_nothing_and_the_first_pass_after_it_puts_the_tab_right(
    container: Container,
    clock: SimulatedClock,
    fake: FakeGoogleSheets,
    spreadsheet_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = [subscribe(container, f"henkilo{i}@example.fi") for i in range(4)]
    settle(container, clock)
    fake.fail(503, times=None)
    outage_ends = clock.now() + timedelta(hours=1)
    late: list[str] = []
    with caplog.at_level(logging.INFO, logger="consent"):
        minute = 0
        while clock.now() < outage_ends:
            minute += 1
            if minute in (10, 50):
                late.append(subscribe(container, f"myohainen{minute}@example.fi"))
            if minute == 30:
                withdraw(container, ids[0])
            settle(container, clock, seconds=60)
            status, body = readiness(container)
            assert status == 200, "a Google outage never takes the web out of service"
        assert "503" in body["mirror"]["last_error"]
        assert body["mirror"]["lag_seconds"] > 3000
        assert keys_in_tab(fake, spreadsheet_id) == ids

        fake.heal()
        settle(container, clock, seconds=61)  # the retry interval is capped at a minute
    assert keys_in_tab(fake, spreadsheet_id) == [*ids[1:], *late]
    assert readiness(container)[1]["mirror"]["last_error"] is None
    unavailable = [
        r for r in caplog.records if r.name == "consent.mirror" and "unavailable" in r.getMessage()
    ]
    assert len(unavailable) == 1, "the outage is logged when it starts, not at every retry"
    assert any("working again" in r.getMessage() for r in caplog.records)


@pytest.mark.both_databases
def test_worker_killed_between_its_read_and_its_write_leaves_a_tab_the_next_pass_fixes(
    container: Container,
    clock: SimulatedClock,
    fake: FakeGoogleSheets,
    spreadsheet_id: str,
    service_env: dict[str, str],
) -> None:
    first = subscribe(container, "maija@example.fi")
    settle(container, clock)
    second = subscribe(container, "ville@example.fi")
    withdraw(container, first)
    clock.advance(seconds=2)

    # The day's ledger checkpoint (`worker --once` makes it too, and writes it to the Sheet) is
    # not this test's concern: it is marked made for the day the worker process sees.
    with container.uow() as uow:
        uow.session.add(ServiceState(
            name=LAST_DAY_STATE, updated_at=datetime.now(UTC),
            value=datetime.now(ZoneInfo(container.deps.practice.timezone)).date().isoformat()))
        uow.commit()

    # Another worker process takes the pass, reads the tab, and dies while its write is sent.
    held: Fault = fake.fail(mode="hold", method="POST", delay=60)
    env = {**os.environ, **service_env, "CONSENT_OUTBOX_LEASE_SECONDS": "300"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "worker", "--once"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert held.reached.wait(60), "the worker process got as far as its write"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        held.released.set()
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=30)
    assert keys_in_tab(fake, spreadsheet_id) == [first], "nothing was written"
    assert mirror_items(container)[-1].status == OutboxStatus.RUNNING, "its claim outlives it"

    # Its lease runs out (the dead process claimed it on the real clock); another worker runs.
    lease_over = datetime.now(UTC) + timedelta(seconds=301)
    clock.advance(seconds=(lease_over - clock.now()).total_seconds())
    fake.clear_log()
    container.worker().drain()
    assert keys_in_tab(fake, spreadsheet_id) == [second]
    assert all(i.status == OutboxStatus.DONE for i in mirror_items(container))
    assert len([r for r in fake.api_requests("write") if r.status == 200]) == 1


# -- misconfiguration ------------------------------------------------------------------------------


def _not_shared(fake: FakeGoogleSheets, env: dict[str, str], tmp_path: Path) -> None:
    fake.unshare(env["CONSENT_SPREADSHEET_ID"], DEFAULT_SERVICE_ACCOUNT)


def _no_such_spreadsheet(fake: FakeGoogleSheets, env: dict[str, str], tmp_path: Path) -> None:
    env["CONSENT_SPREADSHEET_ID"] = "1NoSuchSpreadsheetAtAll"


def _unreadable_credentials(fake: FakeGoogleSheets, env: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "downloaded-key.json"
    broken.write_text("<html>Sign in to continue</html>", encoding="utf-8")
    env["CONSENT_GOOGLE_CREDENTIALS"] = str(broken)


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (
            _not_shared,
            f"share the spreadsheet .* with {re.escape(DEFAULT_SERVICE_ACCOUNT)} as Editor",
        ),
        (
            _no_such_spreadsheet,
            "no spreadsheet with id 1NoSuchSpreadsheetAtAll: check CONSENT_SPREADSHEET_ID",
        ),
        (_unreadable_credentials, "credentials file unreadable: .*downloaded-key.json is not JSON"),
    ],
    ids=["not-shared", "no-such-spreadsheet", "unreadable-credentials"],
)
def test_misconfiguration_is_named_once_in_the_log_in_readyz_and_by_consent_sync(
    mistake: Any,
    hint: str,
    service_env: dict[str, str],
    fake: FakeGoogleSheets,
    tmp_path: Path,
    clock: SimulatedClock,
    sim: SimulatedTime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mistake(fake, service_env, tmp_path)
    container = google_container(load_settings(service_env), clock, sim)
    try:
        subscribe(container, "maija@example.fi")
        with caplog.at_level(logging.INFO, logger="consent"):
            for _ in range(4):  # the pass and three retries, five minutes apart
                settle(container, clock, seconds=301)
        status, body = readiness(container)
        [item] = mirror_items(container)
    finally:
        container.mirror.close()  # type: ignore[attr-defined]
        container.close()

    assert status == 200, "a Google problem never takes the web out of service"
    assert re.search(hint, body["mirror"]["last_error"])
    assert body["mirror"]["needs_attention"] is True
    assert item.status == OutboxStatus.PENDING and item.attempts == 4, "the pass stays queued"
    logged = [r for r in caplog.records if re.search(hint, r.getMessage())]
    assert len(logged) == 1 and logged[0].levelno == logging.ERROR
    assert "maija@example.fi" not in caplog.text

    result = CliRunner().invoke(consent, ["sync"], env=service_env)
    assert result.exit_code != 0
    assert re.search(hint, result.output)


def test_consent_sync_check_reports_drift_then_sync_puts_it_right(
    service_env: dict[str, str],
    container: Container,
    clock: SimulatedClock,
    fake: FakeGoogleSheets,
    spreadsheet_id: str,
) -> None:
    subscribe(container, "maija@example.fi")
    settle(container, clock)
    fake.delete_row(spreadsheet_id, TAB, 2)

    check = CliRunner().invoke(consent, ["sync", "--check"], env=service_env)
    assert check.exit_code == 1
    assert "drift: 1 row(s) missing" in check.output
    done = CliRunner().invoke(consent, ["sync"], env=service_env)
    assert done.exit_code == 0, done.output
    # A new process reads the tab's layout, then its values, then writes: three requests.
    assert "done: 1 row(s) added, 0 changed, 0 removed, 3 API request(s)" in done.output
    assert len(keys_in_tab(fake, spreadsheet_id)) == 1
    assert readiness(container)[1]["mirror"]["last_report"]["added"] == 1

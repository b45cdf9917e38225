"""The image's command line and its healthchecks work, run here without Docker.

gunicorn is started with the Dockerfile's CMD arguments and ENV (only the address and the data
directory differ); compose.yaml's healthcheck commands are run against it and a database.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from service.domain import outbox
from tests.conftest import make_container
from tests.unit.test_compose_and_image import compose, dockerfile

BIN = Path(sys.executable).parent


def image_command() -> list[str]:
    """Return the Dockerfile's CMD as Docker runs it (its JSON form)."""
    found = re.search(r"^CMD (\[.*\])", dockerfile(), re.MULTILINE)
    assert found, "the Dockerfile has a CMD in JSON form"
    command: list[str] = json.loads(found.group(1))
    return command


def image_environment() -> dict[str, str]:
    """Return the variables the Dockerfile's ENV lines set."""
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.*)$", dockerfile(), re.MULTILINE):
        for pair in line.split():
            name, _, value = pair.partition("=")
            env[name] = value
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("CONSENT_", "PROMETHEUS_"))}


def _healthcheck(test: list[str], port: int) -> list[str]:
    """Turn a compose/Docker healthcheck into a command for this machine's port and Python."""
    assert test[0] == "CMD"
    command = [c.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for c in test[1:]]
    return [str(BIN / "python") if command[0] == "python" else command[0], *command[1:]]


@pytest.fixture
def image_web(tmp_path: Path) -> Iterator[tuple[str, int, Path]]:
    """Run gunicorn as the image's CMD does, on a free loopback port and a fresh data dir."""
    port = _free_port()
    command = image_command()
    assert command[0] == "gunicorn"
    bind = command.index("--bind") + 1
    command[bind] = f"127.0.0.1:{port}"
    env = {**_clean_environment(), **image_environment(),
           "CONSENT_DATA_DIR": str(tmp_path / "data"),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
           # Production (PostgreSQL) sets the keys; three workers must not race to make one.
           "CONSENT_SECRET_KEYS": "image-test-key-0123456789",
           "CONSENT_METRICS_NETWORKS": "127.0.0.1/32"}
    log = (tmp_path / "gunicorn.log").open("w")
    process = subprocess.Popen([str(BIN / "gunicorn"), *command[1:]], cwd=tmp_path, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass  # the socket listens before the workers have booted
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "gunicorn did not answer /healthz in 90 s"
            time.sleep(0.3)
        yield base, port, tmp_path / "metrics"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _count(text: str, route: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "consent_http_request_duration_seconds_count" and \
                    sample.labels.get("route") == route and sample.labels.get("method") == "GET":
                return sample.value
    return 0.0


@pytest.mark.slow
def test_the_images_command_starts_the_app_and_counts_every_workers_requests(
    image_web: tuple[str, int, Path],
) -> None:
    base, port, metrics_dir = image_web

    def workers_that_answered() -> int:
        return len(list(metrics_dir.glob("histogram_*.db")))

    sent = 0
    # Until at least two of the three workers have answered (which one answers is the
    # kernel's choice), so that a scrape must add up the counts of several processes.
    while sent < 12 or (workers_that_answered() < 2 and sent < 500):
        assert requests.get(f"{base}/readyz", timeout=10).status_code == 200
        sent += 1
    assert workers_that_answered() >= 2
    scrapes = [requests.get(f"{base}/metrics", timeout=10) for _ in range(4)]
    assert all(s.status_code == 200 for s in scrapes)
    assert [_count(s.text, "/readyz") for s in scrapes] == [float(sent)] * 4, \
        "every scrape, whichever worker answers it, counts every worker's requests"
    assert "consent_database_up 1.0" in scrapes[0].text

    web_check = compose()["services"]["web"]["healthcheck"]["test"]
    assert subprocess.run(_healthcheck(web_check, port), timeout=30).returncode == 0
    image_check = re.search(r"^HEALTHCHECK .*CMD (\[.*\])", dockerfile(), re.MULTILINE)
    assert image_check
    assert subprocess.run(_healthcheck(["CMD", *json.loads(image_check.group(1))], port),
                          timeout=30).returncode == 0


def test_the_workers_healthcheck_fails_once_due_work_waits_a_quarter_of_an_hour(
    settings: Any, clock: Any
) -> None:
    check = _healthcheck(compose()["services"]["worker"]["healthcheck"]["test"], 0)
    env = {**_clean_environment(), **dict(settings.extra)}
    assert subprocess.run(check, env=env, timeout=60).returncode == 0
    container = make_container(settings, clock)

    def queue_due_since(minutes: int) -> None:
        with container.uow() as uow:
            outbox.enqueue(uow.session, "mail", f"due-since-{minutes}", {},
                           now=datetime.now(UTC) - timedelta(minutes=minutes))
            uow.commit()

    try:
        queue_due_since(5)
        assert subprocess.run(check, env=env, timeout=60).returncode == 0, \
            "a worker a few minutes behind is healthy"
        queue_due_since(20)
    finally:
        container.close()
    assert subprocess.run(check, env=env, timeout=60, capture_output=True).returncode == 1

"""What the Google Sheets mirror tests share: the tab's names, simulated time, reading the tab."""

from __future__ import annotations

import random
import secrets
from datetime import datetime, timedelta
from typing import Any

from service.bootstrap import Container, build, make_mirror
from service.domain.mirror.rows import header
from service.settings import Settings
from tests.conftest import FakeClock
from tests.fakes.google_sheets import FakeGoogleSheets, SimulatedTime

TAB = "Markkinointirekisteri"
HEADER = list(header("fi"))
PUBLIC_URL = "https://consent.example.fi"


class SimulatedClock(FakeClock):
    """The service's clock, driven by the same simulated seconds as the fake's quotas."""

    def __init__(self, sim: SimulatedTime) -> None:
        super().__init__()
        self.sim = sim
        self.origin = sim.now

    def now(self) -> datetime:
        return self.current + timedelta(seconds=self.sim.now - self.origin)

    def advance(self, **kwargs: float) -> None:
        self.sim.now += timedelta(**kwargs).total_seconds()


def google_container(settings: Settings, clock: SimulatedClock, sim: SimulatedTime) -> Container:
    """Build the container as the service does, its Sheets writer waiting in simulated time."""
    mirror = make_mirror(
        settings, sleep=sim.sleep, random=random.Random(7).random, monotonic=sim, timeout=10.0
    )
    return build(settings, clock=clock, migrate=False, mirror=mirror)


def settle(container: Container, clock: SimulatedClock, seconds: float = 2.0) -> None:
    """Let the debounce pass, then run the worker until nothing is due."""
    clock.advance(seconds=seconds)
    container.worker().drain()


def tab(fake: FakeGoogleSheets, spreadsheet_id: str) -> list[list[str]]:
    """Return what the tab shows (nothing when there is no tab yet)."""
    if TAB not in fake.tab_titles(spreadsheet_id):
        return []
    return fake.values(spreadsheet_id, TAB)


def keys_in_tab(fake: FakeGoogleSheets, spreadsheet_id: str) -> list[str]:
    """Return the contact keys in the tab, top to bottom."""
    return [row[0] for row in tab(fake, spreadsheet_id)[1:]]


def readiness(container: Container) -> tuple[int, dict[str, Any]]:
    """Return /readyz's status and body."""
    from service.web import create_app
    from tests.register_support import new_key

    key = new_key(container, f"health-{secrets.token_hex(4)}")
    answer = create_app(container=container).test_client().get(
        "/readyz", headers={"Authorization": f"Bearer {key}"})
    return answer.status_code, answer.get_json()

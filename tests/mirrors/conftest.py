"""Fixtures for the register mirror: a running Sheets fake, simulated time, mirrors under test."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mirrors.sheets import GoogleSheetsMirror
from tests.fakes.google_sheets import DEFAULT_SERVICE_ACCOUNT, FakeGoogleSheets, SimulatedTime

TAB = "Markkinointirekisteri"
HEADER = [
    "Tunniste",
    "Nimi",
    "Sähköposti",
    "Sähköposti: suostumus",
    "Sähköposti: aika",
    "Tekstiviesti: suostumus",
    "Tekstiviesti: aika",
    "Peruutuslinkki",
]
SERVICE_ACCOUNT = DEFAULT_SERVICE_ACCOUNT


def contact_row(name: str, email: str | None = None, *, sms: bool = False) -> list[str]:
    """Return one register row for a new contact."""
    key = str(uuid.uuid4())
    return [
        key,
        name,
        email or f"{name.split()[0].lower()}@example.fi",
        "kyllä",
        "20.11.2026 09.00",
        "kyllä" if sms else "ei",
        "20.11.2026 09.00" if sms else "",
        f"https://consent.example.fi/unsubscribe/{key[:8]}",
    ]


def register(count: int) -> list[list[str]]:
    """Return a register of count contacts with Finnish names."""
    names = ["Äijä Öhman", "Åsa Ström", "Matti Meikäläinen", "Liisa Järvinen", "Pekka Mäki"]
    return [
        contact_row(f"{names[i % len(names)]} {i}", f"henkilo{i}@example.fi") for i in range(count)
    ]


@pytest.fixture
def sim_time() -> SimulatedTime:
    """Return a clock that moves only when the code under test sleeps."""
    return SimulatedTime()


@pytest.fixture
def fake_sheets(sim_time: SimulatedTime) -> Iterator[FakeGoogleSheets]:
    """Serve the Sheets fake on 127.0.0.1 for one test."""
    with FakeGoogleSheets(clock=sim_time) as fake:
        yield fake


@pytest.fixture
def credentials_file(fake_sheets: FakeGoogleSheets, tmp_path: Path) -> Path:
    """Write a throwaway service-account key whose token_uri is the fake's."""
    return fake_sheets.write_credentials_file(tmp_path / "service-account.json")


@pytest.fixture
def spreadsheet_id(fake_sheets: FakeGoogleSheets) -> str:
    """Create a spreadsheet shared with the service account as Editor."""
    return fake_sheets.create_spreadsheet(sheets=("Sheet1",), shared_with=[SERVICE_ACCOUNT])


@pytest.fixture
def make_mirror(
    fake_sheets: FakeGoogleSheets,
    credentials_file: Path,
    spreadsheet_id: str,
    sim_time: SimulatedTime,
) -> Iterator[Callable[..., GoogleSheetsMirror]]:
    """Return a factory of Sheets mirrors wired to the fake and simulated time."""
    made: list[GoogleSheetsMirror] = []

    def make(**overrides: Any) -> GoogleSheetsMirror:
        options: dict[str, Any] = {
            "credentials_file": credentials_file,
            "spreadsheet_id": spreadsheet_id,
            "worksheet_title": TAB,
            "api_base_url": fake_sheets.url,
            "timeout": 5.0,
            "sleep": sim_time.sleep,
            "monotonic": sim_time,
            "random": random.Random(1234).random,
        }
        options.update(overrides)
        mirror = GoogleSheetsMirror(**options)
        made.append(mirror)
        return mirror

    yield make
    for mirror in made:
        mirror.close()


@pytest.fixture
def mirror(make_mirror: Callable[..., GoogleSheetsMirror]) -> GoogleSheetsMirror:
    """Return a Sheets mirror with default settings."""
    return make_mirror()

"""The service wired to the Sheets fake as a practice wires it, in simulated time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.bootstrap import Container
from service.settings import Settings, load_settings
from tests.e2e.sheets.support import PUBLIC_URL, SimulatedClock, google_container
from tests.fakes.google_sheets import DEFAULT_SERVICE_ACCOUNT, FakeGoogleSheets, SimulatedTime


@pytest.fixture
def sim() -> SimulatedTime:
    return SimulatedTime()


@pytest.fixture
def fake(sim: SimulatedTime) -> Iterator[FakeGoogleSheets]:
    with FakeGoogleSheets(clock=sim) as server:
        yield server


@pytest.fixture
def spreadsheet_id(fake: FakeGoogleSheets) -> str:
    return fake.create_spreadsheet(sheets=("Taul1",), shared_with=[DEFAULT_SERVICE_ACCOUNT])


@pytest.fixture
def clock(sim: SimulatedTime) -> SimulatedClock:
    return SimulatedClock(sim)


@pytest.fixture
def service_env(
    database_url: str, tmp_path: Path, fake: FakeGoogleSheets, spreadsheet_id: str
) -> dict[str, str]:
    """Return the environment of a service that mirrors to the fake's spreadsheet."""
    credentials = fake.write_credentials_file(tmp_path / "service-account.json")
    return {
        "CONSENT_DATA_DIR": str(tmp_path / "data"),
        "CONSENT_DATABASE_URL": database_url,
        "CONSENT_SECRET_KEYS": "test-key-0123456789abcdef",
        "CONSENT_ORGANIZATION": "Kiropraktikko Testi",
        "CONSENT_PUBLIC_URL": PUBLIC_URL,
        "CONSENT_OPTIN_RATE_LIMIT": "1000/minute",
        "CONSENT_GOOGLE_CREDENTIALS": str(credentials),
        "CONSENT_SPREADSHEET_ID": spreadsheet_id,
        "CONSENT_SHEETS_API_URL": fake.url,
    }


@pytest.fixture
def settings(service_env: dict[str, str]) -> Settings:
    return load_settings(service_env)


@pytest.fixture
def container(settings: Settings, clock: SimulatedClock, sim: SimulatedTime) -> Iterator[Container]:
    built = google_container(settings, clock, sim)
    yield built
    built.mirror.close()  # type: ignore[attr-defined]
    built.close()

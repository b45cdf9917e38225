"""The same-work floor of the benchmarks writes exactly the rows the service writes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL, PG_AVAILABLE

BENCH = Path(__file__).resolve().parents[2] / "bench"

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]


@pytest.mark.skipif(not PG_AVAILABLE, reason="PostgreSQL is not running here")
def test_floor_writes_what_the_service_writes_for_opt_ins_and_one_clicks() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import floor_check

        found = floor_check.check(PG_ADMIN_URL.rsplit("/", 1)[0])
    finally:
        sys.path.remove(str(BENCH))

    assert found == []

"""Passes after a change in the ledger write only the changed rows, reading only the key column.

The service is wired as a practice wires it (the Google writer against the Sheets fake over
HTTP, real gspread and google-auth); every change goes through the use case a person or a
provider would trigger. "What a full pass would produce" is checked by running one afterwards:
it must find nothing to change.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable
from typing import Any

import pytest

from service.bootstrap import Container
from service.domain import optin, rights
from service.domain.deliverability import Outcome, ProviderEvent, apply_provider_events
from service.domain.ledger import Actor
from service.domain.models import ActorType
from tests.e2e.sheets.support import (
    HEADER,
    TAB,
    SimulatedClock,
    keys_in_tab,
    readiness,
    settle,
    tab,
)
from tests.fakes.google_sheets import FakeGoogleSheets
from tests.register_support import subscribe

# Incremental passes read the rows that the dirty-row triggers of each backend mark.
pytestmark = pytest.mark.both_databases

STAFF = Actor(ActorType.STAFF, "1:liisa")
CONFIRM_PATH = re.compile(r"/confirm/([A-Za-z0-9_.\-]+)")


def last_pass(container: Container) -> dict[str, Any]:
    """Return what /readyz says of the last pass."""
    report: dict[str, Any] = readiness(container)[1]["mirror"]["last_report"]
    return report


def requests_of_the_pass(fake: FakeGoogleSheets) -> list[str]:
    """Return each Sheets API request since the log was cleared, as "METHOD path?query"."""
    return [f"{r.method} {r.path}?{r.query}" for r in fake.api_requests()]


def assert_a_full_pass_would_change_nothing(
    container: Container, fake: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    shown = tab(fake, spreadsheet_id)
    report = container.sync_register()
    assert not report.drift, "a full pass finds the tab exactly as it would write it"
    assert tab(fake, spreadsheet_id) == shown


def pending_opt_in(container: Container, address: str) -> str:
    """Ask for an opt-in on the website's form; return the confirmation token mailed."""
    form = optin.parse_opt_in(
        {"email": address, "name": "Ville Vahvistaja", "consent": True}, default_language="fi"
    )
    optin.request_opt_in(container.uow(), container.deps, form, optin.RequestContext())
    container.worker().drain()  # the confirmation is mailed
    [mail] = sorted(container.settings.outbox_dir.glob("*.eml"))
    message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
    found = CONFIRM_PATH.search(message.get_body(preferencelist=("plain",)).get_content())
    assert found
    return found.group(1)


def confirm(container: Container, token: str) -> None:
    optin.confirm_opt_in(container.uow(), container.deps, token, optin.RequestContext())


def withdraw(container: Container, public_id: str) -> None:
    rights.withdraw(container.uow(), container.deps, public_id, ["email"], STAFF, ip=None)


def correct_name(container: Container, public_id: str) -> None:
    rights.correct_contact(
        container.uow(),
        container.deps,
        public_id,
        rights.Correction(name="Korjattu Nimi"),
        STAFF,
        ip=None,
    )


def erase(container: Container, public_id: str) -> None:
    rights.erase_contact(container.uow(), container.deps, public_id, STAFF, ip=None)


def hard_bounce(container: Container, address: str) -> None:
    apply_provider_events(
        container.uow(),
        container.deps,
        "postmark",
        [ProviderEvent("bounce-1", Outcome.HARD_BOUNCE, address)],
    )


def five_on_the_register(container: Container) -> list[str]:
    return [subscribe(container, f"henkilo{i}@example.fi", name=f"Henkilö {i}") for i in range(5)]


# -- one change, one key-column read, one write ----------------------------------------------------


def test_a_confirmed_opt_in_is_written_alone_in_its_place_after_one_read_of_the_key_column(
    container: Container, clock: SimulatedClock, fake: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    token = pending_opt_in(container, "ville@example.fi")  # the oldest contact, still pending
    others = five_on_the_register(container)
    settle(container, clock)
    assert keys_in_tab(fake, spreadsheet_id) == others

    confirm(container, token)
    fake.clear_log()
    settle(container, clock)

    [read, write] = requests_of_the_pass(fake)
    assert read.startswith("GET ") and "values:batchGet" in read and "A2%3AA" in read
    assert write.startswith("POST ") and write.split("?")[0].endswith(":batchUpdate")
    assert last_pass(container) == {
        "added": 1,
        "changed": 0,
        "removed": 0,
        "requests": 2,
        "full": False,
    }
    shown = tab(fake, spreadsheet_id)
    assert shown[0] == HEADER
    assert shown[1][1:3] == ["ville@example.fi", "Ville Vahvistaja"], "in contact order"
    assert [row[0] for row in shown[2:]] == others
    assert_a_full_pass_would_change_nothing(container, fake, spreadsheet_id)


ONE_CHANGE: dict[str, Callable[[Container, str, str], None]] = {
    "withdrawal": lambda c, public_id, address: withdraw(c, public_id),
    "correction": lambda c, public_id, address: correct_name(c, public_id),
    "erasure": lambda c, public_id, address: erase(c, public_id),
    "hard bounce": lambda c, public_id, address: hard_bounce(c, address),
}


@pytest.mark.parametrize("change", list(ONE_CHANGE))
def test_one_change_costs_one_read_of_the_key_column_and_one_write_and_ends_as_a_full_pass_would(
    change: str,
    container: Container,
    clock: SimulatedClock,
    fake: FakeGoogleSheets,
    spreadsheet_id: str,
) -> None:
    keys = five_on_the_register(container)
    settle(container, clock)
    before = tab(fake, spreadsheet_id)

    ONE_CHANGE[change](container, keys[2], "henkilo2@example.fi")
    fake.clear_log()
    settle(container, clock)

    [read, write] = requests_of_the_pass(fake)
    assert read.startswith("GET ") and "values:batchGet" in read and "A2%3AA" in read
    assert write.startswith("POST ")
    assert last_pass(container)["full"] is False
    shown = tab(fake, spreadsheet_id)
    if change == "correction":
        assert last_pass(container)["changed"] == 1
        assert shown[3][2] == "Korjattu Nimi"
        assert [row for i, row in enumerate(shown) if i != 3] == before[:3] + before[4:]
    else:
        assert last_pass(container)["removed"] == 1
        assert shown == before[:3] + before[4:], "the row is gone, the others untouched"
    assert_a_full_pass_would_change_nothing(container, fake, spreadsheet_id)


def test_a_change_that_touches_no_row_sends_no_request(
    container: Container, clock: SimulatedClock, fake: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    five_on_the_register(container)
    settle(container, clock)
    fake.clear_log()
    pending_opt_in(container, "odottaa@example.fi")  # pending: not on the register
    settle(container, clock)
    assert fake.api_requests() == []
    assert len(keys_in_tab(fake, spreadsheet_id)) == 5


# -- anything unexpected: a full pass --------------------------------------------------------------


TAMPERING: dict[str, Callable[[FakeGoogleSheets, str], None]] = {
    "a blanked key": lambda f, s: f.set_cell(s, TAB, "A3", ""),
    "a doubled key": lambda f, s: f.set_cell(s, TAB, "A4", f.values(s, TAB)[1][0]),
    "an unknown key": lambda f, s: f.set_cell(s, TAB, "A5", "ei-tunnettu"),
    "a sorted tab": lambda f, s: f.sort_rows(s, TAB, column=1, reverse=True),
    "a renamed header": lambda f, s: f.set_cell(s, TAB, "B1", "Email"),
    "a deleted row": lambda f, s: f.delete_row(s, TAB, 4),
}


@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_a_tampered_tab_makes_the_pass_a_full_one_that_puts_the_tab_right(
    tampering: str,
    container: Container,
    clock: SimulatedClock,
    fake: FakeGoogleSheets,
    spreadsheet_id: str,
) -> None:
    keys = five_on_the_register(container)
    settle(container, clock)
    TAMPERING[tampering](fake, spreadsheet_id)

    withdraw(container, keys[0])
    settle(container, clock)

    assert last_pass(container)["full"] is True
    assert keys_in_tab(fake, spreadsheet_id) == keys[1:]
    assert tab(fake, spreadsheet_id)[0] == HEADER
    assert_a_full_pass_would_change_nothing(container, fake, spreadsheet_id)


def test_a_deleted_tab_makes_the_pass_a_full_one_that_brings_it_back(
    container: Container, clock: SimulatedClock, fake: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    keys = five_on_the_register(container)
    settle(container, clock)
    fake.delete_tab(spreadsheet_id, TAB)

    withdraw(container, keys[0])
    settle(container, clock)

    assert last_pass(container)["full"] is True
    assert keys_in_tab(fake, spreadsheet_id) == keys[1:]
    assert_a_full_pass_would_change_nothing(container, fake, spreadsheet_id)


# -- nothing lost ----------------------------------------------------------------------------------


def test_a_change_committed_while_a_pass_writes_is_shown_by_the_next_pass(
    container: Container, clock: SimulatedClock, fake: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    keys = five_on_the_register(container)
    settle(container, clock)
    late: list[str] = []

    def meanwhile(path: str) -> None:
        # Runs once the pass has read the changes and the tab, as its write lands.
        if not late:
            late.append(subscribe(container, "myohainen@example.fi", name="Myöhäinen"))
            withdraw(container, keys[1])

    withdraw(container, keys[0])
    fake.after_write = meanwhile
    clock.advance(seconds=2)
    container.worker().run_once()
    fake.after_write = None
    assert late
    assert keys_in_tab(fake, spreadsheet_id) == keys[1:], "the pass wrote what it had read"

    settle(container, clock)
    assert keys_in_tab(fake, spreadsheet_id) == keys[2:] + late
    assert last_pass(container)["full"] is False
    assert_a_full_pass_would_change_nothing(container, fake, spreadsheet_id)


def test_rows_coming_back_between_others_and_rows_leaving_in_one_pass_end_as_a_full_pass_would(
    container: Container, clock: SimulatedClock, fake: FakeGoogleSheets, spreadsheet_id: str
) -> None:
    keys = [subscribe(container, f"henkilo{i}@example.fi", name=f"Henkilö {i}") for i in range(12)]
    settle(container, clock)
    for i in (2, 5, 6, 9):
        withdraw(container, keys[i])
    settle(container, clock)
    assert last_pass(container)["full"] is False

    for i in (5, 9, 2):  # consent given again: each comes back in its old place
        subscribe(container, f"henkilo{i}@example.fi", name=f"Henkilö {i}")
    for i in (0, 7, 8, 11):
        withdraw(container, keys[i])
    correct_name(container, keys[3])
    newcomer = subscribe(container, "uusi@example.fi", name="Uusi")
    fake.clear_log()
    settle(container, clock)

    assert len(fake.api_requests()) == 2
    assert last_pass(container) == {
        "added": 4,
        "changed": 1,
        "removed": 4,
        "requests": 2,
        "full": False,
    }
    expected = [keys[i] for i in (1, 2, 3, 4, 5, 9, 10)] + [newcomer]
    assert keys_in_tab(fake, spreadsheet_id) == expected
    assert tab(fake, spreadsheet_id)[3][2] == "Korjattu Nimi"
    assert_a_full_pass_would_change_nothing(container, fake, spreadsheet_id)

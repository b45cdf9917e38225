"""Destructive admin buttons in a real browser at phone width: each asks on a page that names
its target, cancelling changes nothing, and the result and the audit log say what was done."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.browser.pages import (
    fill,
    follow,
    log_in,
    navigates,
    no_sideways_scrolling,
    shows,
    submit,
)
from tests.staff_support import add_account

pytestmark = pytest.mark.slow


def test_removing_a_form_source_asks_names_it_and_the_log_says_it_in_words(
    browser: Any, live_server: Any, container: Any, clock: Any
) -> None:
    base = live_server.url
    add_account(container, "omistaja", admin=True)
    browser.set_window_size(390, 844)
    log_in(browser, base, "omistaja")
    secret = browser.find_element(By.ID, "totp-secret").text
    fill(browser, "code", pyotp.TOTP(secret).at(clock.now()))
    submit(browser, "/staff/totp")
    follow(browser, "Jatka")
    follow(browser, "Lomakelähteet")
    fill(browser, "s-name", "ajanvaraus")
    fill(browser, "s-mapping", "consent=uutiskirje")
    submit(browser, "/staff/admin/sources")

    submit(browser, "/staff/admin/sources/ajanvaraus/remove")
    assert shows(browser, "Poistetaanko lähde ”ajanvaraus”?")
    assert "lakkaa heti tuomasta lupia" in browser.find_element(By.ID, "consequence").text
    assert no_sideways_scrolling(browser)
    navigates(browser, lambda: browser.find_element(By.ID, "cancel").click())
    assert "ajanvaraus" in browser.find_element(By.ID, "sources").text, "cancel changed nothing"

    submit(browser, "/staff/admin/sources/ajanvaraus/remove")
    navigates(browser, lambda: browser.find_element(By.ID, "confirm").click())
    assert shows(browser, "Lähde ”ajanvaraus” on poistettu: verkkosivujen lomake ei enää tuo")

    follow(browser, "Lokitiedot")
    Select(browser.find_element(By.ID, "f-action")).select_by_visible_text(
        "lomakelähde poistettu")
    submit(browser, "/staff/admin/audit")
    log = browser.find_element(By.ID, "audit").text
    assert "lomakelähde poistettu" in log and "Lähde" in log and "ajanvaraus" in log
    assert "(UTC+2)" in log and "{" not in log
    assert no_sideways_scrolling(browser)

"""The webhook admin pages in a real browser at phone width: add a source and an endpoint,
see a delivery and redeliver it, with no JavaScript needed and no sideways scrolling."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest
import requests
from selenium.webdriver.common.by import By

from tests.browser.pages import (
    fill,
    follow,
    log_in,
    no_sideways_scrolling,
    shows,
    submit,
)
from tests.staff_support import add_account

pytestmark = pytest.mark.slow


def test_webhook_admin_pages_work_on_a_phone(browser: Any, live_server: Any, container: Any,
                                             clock: Any) -> None:
    base = live_server.url
    add_account(container, "omistaja", admin=True)
    browser.set_window_size(375, 740)
    log_in(browser, base, "omistaja")
    secret = browser.find_element(By.ID, "totp-secret").text
    fill(browser, "code", pyotp.TOTP(secret).at(clock.now()))
    submit(browser, "/staff/totp")
    follow(browser, "Jatka")

    follow(browser, "Lomakelähteet")
    assert no_sideways_scrolling(browser)
    fill(browser, "s-name", "uutiskirjelomake-etusivulla")
    fill(browser, "s-mapping", "consent=uutiskirje")
    submit(browser, "/staff/admin/sources")
    assert browser.find_element(By.ID, "new-secret").text
    assert "/webhooks/forms/uutiskirjelomake-etusivulla" in browser.find_element(
        By.ID, "new-url").text
    assert no_sideways_scrolling(browser)

    follow(browser, "Webhookit")
    assert no_sideways_scrolling(browser)
    fill(browser, "e-url", "http://127.0.0.1:9/a/rather/long/path/for/the/crm/webhook/receiver")
    browser.find_element(By.CSS_SELECTOR, "input[name=allow_private]").click()
    submit(browser, "/staff/admin/webhooks")
    assert browser.find_element(By.ID, "new-secret").text.startswith("whsec_")
    assert no_sideways_scrolling(browser)

    # Port 9 refuses: the attempt fails and is shown with its error.
    requests.post(f"{base}/api/v1/subscribe", json={"email": "maija@example.fi",
                                                    "consent": True}, timeout=10)
    container.worker().drain()
    follow(browser, "Lähetykset")
    assert shows(browser, "could not connect")
    assert no_sideways_scrolling(browser)
    submit(browser, "/redeliver")
    assert shows(browser, "Lähetys on jonossa uudelleen.")
    assert no_sideways_scrolling(browser)

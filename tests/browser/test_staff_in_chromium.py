"""The staff pages in a real browser: login with and without TOTP, verbal consent, finding,
history, export and erasure; at phone width and with the keyboard alone."""

from __future__ import annotations

import json
from typing import Any

import pyotp
import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.pages import (
    fill,
    follow,
    log_in,
    navigates,
    no_sideways_scrolling,
    record_consent,
    shows,
    submit,
)
from tests.staff_support import PASSWORD, add_account

pytestmark = pytest.mark.slow


def test_staff_records_finds_exports_and_erases_in_the_browser(
    browser: Any, live_server: Any, container: Any
) -> None:
    base = live_server.url
    add_account(container, "liisa")
    log_in(browser, base, "liisa")
    assert "/staff/contacts" in browser.current_url

    follow(browser, "Kirjaa suullinen lupa")
    assert "Lue tämä teksti ääneen" in browser.page_source
    fill(browser, "name", "Maija Meikäläinen")
    fill(browser, "email", "maija@example.fi")
    fill(browser, "phone", "040 123 4567")
    browser.find_element(By.CSS_SELECTOR, "input[name=channels][value=sms]").click()
    browser.find_element(By.CSS_SELECTOR, "input[name=method][value=phone]").click()
    fill(browser, "note", "soitti vastaanottoon")
    record_consent(browser)
    assert shows(browser, "Lupa kirjattu.")
    public_id = browser.current_url.rsplit("/", 1)[-1]

    follow(browser, "Hae henkilöä")
    fill(browser, "q", "meikäläinen")
    submit(browser, "/staff/contacts")
    follow(browser, "Maija Meikäläinen")
    history = browser.find_element(By.ID, "history").text
    # What happened and how, in the receptionist's words (kind granted, method verbal_phone).
    assert "antoi suostumuksen" in history and "suullisesti puhelimessa" in history
    assert "(UTC+" in history, "times carry their zone"
    assert browser.find_element(By.ID, "contact-email").text == "maija@example.fi"

    # The export link downloads; fetch it with the browser's session cookie to read it.
    href = browser.find_element(By.ID, "export-json").get_attribute("href")
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    exported = requests.get(href, cookies=cookies, timeout=10)
    assert exported.status_code == 200
    assert json.loads(exported.text)["contact"]["name"] == "Maija Meikäläinen"

    navigates(browser, lambda: browser.find_element(By.ID, "erase-link").click())
    browser.find_element(By.ID, "confirm").click()
    submit(browser, "/erase")
    assert shows(browser, "poistettu")
    browser.get(f"{base}/staff/contacts?q=maija")
    assert browser.find_element(By.ID, "no-results")
    browser.get(f"{base}/staff/contacts/{public_id}")
    assert "Henkilöä ei löydy" in browser.page_source


def test_admin_enrols_totp_then_logs_in_with_a_code(browser: Any, live_server: Any,
                                                   container: Any, clock: Any) -> None:
    base = live_server.url
    add_account(container, "omistaja", admin=True)
    log_in(browser, base, "omistaja")
    assert browser.current_url.endswith("/staff/totp")
    assert browser.find_element(By.CSS_SELECTOR, ".qr svg")
    secret = browser.find_element(By.ID, "totp-secret").text
    fill(browser, "code", pyotp.TOTP(secret).at(clock.now()))
    submit(browser, "/staff/totp")
    codes = browser.find_element(By.ID, "recovery-codes").text.split()
    assert len(codes) == 10
    follow(browser, "Jatka")
    assert shows(browser, "Hae henkilöä")
    submit(browser, "/staff/logout")
    assert browser.current_url.endswith("/staff/login")

    clock.advance(seconds=30)
    log_in(browser, base, "omistaja")
    assert browser.current_url.endswith("/staff/login/code")
    fill(browser, "code", pyotp.TOTP(secret).at(clock.now()))
    submit(browser, "/staff/login/code")
    follow(browser, "Lokitiedot")
    # The action "login" in words, at the practice's wall time with its zone.
    audit = browser.find_element(By.ID, "audit").text
    assert "kirjautui sisään" in audit and "(UTC+2)" in audit


def test_pages_fit_a_phone_screen(browser: Any, live_server: Any, container: Any) -> None:
    base = live_server.url
    add_account(container, "liisa")
    browser.set_window_size(375, 740)
    browser.get(f"{base}/staff/login")
    assert no_sideways_scrolling(browser)
    log_in(browser, base, "liisa")
    for path in ("/staff/contacts", "/staff/consents/new", "/staff/account"):
        browser.get(base + path)
        assert no_sideways_scrolling(browser), path
    browser.get(f"{base}/staff/consents/new")
    fill(browser, "email", "maija.meikalainen.with.a.long.address@example.fi")
    record_consent(browser)
    assert shows(browser, "Lupa kirjattu.")
    assert no_sideways_scrolling(browser)


def test_login_and_consent_work_with_the_keyboard_alone(browser: Any, live_server: Any,
                                                        container: Any) -> None:
    base = live_server.url
    add_account(container, "liisa")
    browser.get(f"{base}/staff/login")
    active = browser.switch_to.active_element
    assert active.get_attribute("id") == "name"  # the name field has the focus at once
    active.send_keys("liisa", Keys.TAB)
    browser.switch_to.active_element.send_keys(PASSWORD, Keys.ENTER)
    assert shows(browser, "Hae henkilöä")
    assert "/staff/contacts" in browser.current_url
    browser.get(f"{base}/staff/consents/new")
    browser.find_element(By.ID, "email").send_keys("pekka@example.fi", Keys.ENTER)
    assert shows(browser, "Lupa kirjattu.")


def test_a_receptionist_reads_swedish_wording_withdraws_once_and_sees_the_overview(
    browser: Any, live_server: Any, container: Any
) -> None:
    base = live_server.url
    add_account(container, "liisa")
    log_in(browser, base, "liisa")
    # The overview beside the search: nobody on the register yet, what the practice must set.
    overview = browser.find_element(By.ID, "overview").text
    assert "Tilanne nyt" in overview and "Sähköposti: 0" in overview
    assert "CONSENT_MAIL_FROM" in browser.find_element(By.ID, "setup-notice").text

    browser.get(f"{base}/staff/consents/new")
    fill(browser, "email", "anna@example.fi")
    fill(browser, "phone", "040 765 4321")
    browser.find_element(By.CSS_SELECTOR, "#language option[value=sv]").click()
    navigates(browser, lambda: browser.find_element(By.ID, "show-wording").click())
    wording = browser.find_element(By.CSS_SELECTOR, "#wording .notice-text")
    assert wording.get_attribute("lang") == "sv"
    assert "ruotsi" in browser.find_element(By.ID, "wording-which").text
    # Without JavaScript the form came back as it was typed.
    assert browser.find_element(By.ID, "email").get_attribute("value") == "anna@example.fi"
    browser.find_element(By.CSS_SELECTOR, "input[name=channels][value=sms]").click()
    record_consent(browser)
    assert shows(browser, "Lupa kirjattu.")
    contact_url = browser.current_url

    boxes = browser.find_elements(By.CSS_SELECTOR, "#withdraw + form input[name=channels]")
    assert [b.get_attribute("value") for b in boxes] == ["email", "sms"]
    assert not any(b.is_selected() for b in boxes), "nothing is withdrawn by default"
    boxes[1].click()
    submit(browser, "/withdraw")
    assert shows(browser, "Lupa peruttu.")
    assert [b.get_attribute("value") for b in browser.find_elements(
        By.CSS_SELECTOR, "#withdraw + form input[name=channels]")] == ["email"]

    # A person without a name opens by a link as large as a finger needs.
    browser.get(f"{base}/staff/contacts?q=anna@")
    link = browser.find_element(By.CSS_SELECTOR, "a.person")
    assert link.text == "anna@example.fi (ei nimeä)"
    assert link.size["height"] >= 24 and link.size["width"] >= 24
    navigates(browser, link.click)
    assert browser.current_url == contact_url

    browser.get(f"{base}/staff/contacts")
    assert "Sähköposti: 1" in browser.find_element(By.ID, "on-register").text
    assert "Tekstiviesti: 0" in browser.find_element(By.ID, "on-register").text

"""What the browser tests do on a page: fill, submit, follow, read; shared by every browser test."""

from __future__ import annotations

from typing import Any

from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.staff_support import PASSWORD


def fill(driver: Any, field_id: str, value: str) -> None:
    element = driver.find_element(By.ID, field_id)
    element.clear()
    element.send_keys(value)


def navigates(driver: Any, act: Any) -> None:
    """Do something that loads a new page, then wait until that page has replaced this one.

    The old document is tagged first, so a check never reads the page that is going away
    (a click racing a navigation is what makes browser tests flaky)."""
    loaded(driver)
    driver.execute_script("window.__leaving = true;")
    act()
    WebDriverWait(driver, 10, ignored_exceptions=[WebDriverException]).until(
        lambda d: d.execute_script(
            "return window.__leaving === undefined && document.readyState === 'complete'"))


def submit(driver: Any, form_action_suffix: str) -> None:
    """Press a form's button and wait until the next page has loaded in its place."""
    navigates(driver, lambda: driver.find_element(
        By.CSS_SELECTOR, f"form[action$='{form_action_suffix}'] button[type=submit]").click())


def follow(driver: Any, link_text: str) -> None:
    """Follow a link by its text and wait until the page it leads to has loaded."""
    navigates(driver, lambda: driver.find_element(By.LINK_TEXT, link_text).click())


def loaded(driver: Any) -> None:
    """Wait until the current document has finished loading."""
    WebDriverWait(driver, 10, ignored_exceptions=[WebDriverException]).until(
        lambda d: d.execute_script("return document.readyState") == "complete")


def shows(driver: Any, text: str) -> bool:
    """Wait (briefly) until the page shows the text."""
    try:
        WebDriverWait(driver, 10, ignored_exceptions=[WebDriverException]).until(
            lambda d: text in d.page_source)
    except TimeoutException:
        return False
    return True


def record_consent(driver: Any) -> None:
    """Press "record the consent" on the verbal consent form and wait for the next page."""
    navigates(driver, lambda: driver.find_element(By.ID, "record-consent").click())


def log_in(driver: Any, base: str, name: str) -> None:
    driver.get(f"{base}/staff/login")
    fill(driver, "name", name)
    fill(driver, "password", PASSWORD)
    submit(driver, "/staff/login")


WIDEST = """
const limit = document.documentElement.clientWidth + 1;
const wide = [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > limit)
  .map(e => e.tagName + '#' + e.id + '.' + e.className);
return wide.slice(0, 5);
"""


def no_sideways_scrolling(driver: Any) -> bool:
    """Tell whether the page fits the window's width (waiting briefly for layout to settle)."""
    def fits(d: Any) -> bool:
        return bool(d.execute_script(
            "return document.readyState === 'complete' && "
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"))
    try:
        WebDriverWait(driver, 5).until(fits)
    except TimeoutException:
        raise AssertionError(f"wider than the screen: {driver.execute_script(WIDEST)}") from None
    return True

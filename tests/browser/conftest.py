"""Headless Chromium (Debian's chromium and chromedriver) driven by Selenium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = os.environ.get("CONSENT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CONSENT_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
REQUIRE_BROWSER = os.environ.get("CONSENT_TEST_REQUIRE_BROWSER") == "1"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900"]


def _missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.exists(path) or shutil.which(path)):
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


def _chromium(implicit_wait: float) -> Iterator[Any]:
    """Start headless Chromium (or skip, or fail where a browser is required) and quit it."""
    missing = _missing()
    if missing:
        if REQUIRE_BROWSER:
            pytest.fail(f"CONSENT_TEST_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(implicit_wait)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser() -> Iterator[Any]:
    """A fresh headless Chromium per test; never downloads a browser or a driver."""
    yield from _chromium(implicit_wait=3)


@pytest.fixture(scope="module")
def module_browser() -> Iterator[Any]:
    """One headless Chromium for a whole module, for checks that only read pages.

    No implicit wait: each check of an element that is absent would wait it out in full.
    """
    yield from _chromium(implicit_wait=0)

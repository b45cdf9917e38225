"""The README's table of settings is the settings table of service/settings.py, row for row."""

from __future__ import annotations

import re
from pathlib import Path

from service.settings import SETTINGS, Setting

README = Path(__file__).resolve().parents[2] / "README.md"
HEADER = "| variable | meaning | default |"


def readme_rows() -> list[str]:
    """Return the rows of the README's settings table, as written."""
    lines = README.read_text().splitlines()
    start = lines.index(HEADER) + 2  # past the header and its |---| line
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def readme_row(setting: Setting) -> str:
    """Return the README's row for one declared setting."""
    default = setting.default_said or f"`{setting.default}`"
    return f"| `{setting.name}` | {setting.meaning} | {default} |"


def test_the_readme_lists_exactly_the_declared_settings_in_their_order() -> None:
    listed = [re.match(r"\| `(CONSENT_[A-Z_]+)`", row) for row in readme_rows()]
    names = [match.group(1) if match else "?" for match in listed]
    assert names == [setting.name for setting in SETTINGS]


def test_the_readme_gives_each_setting_its_declared_meaning_and_default() -> None:
    expected = [readme_row(setting) for setting in SETTINGS]
    drifted = [row for row in expected if row not in readme_rows()]
    assert not drifted, "the README's table should say:\n" + "\n".join(expected)


def test_every_setting_says_its_default() -> None:
    for setting in SETTINGS:
        assert setting.default is not None or setting.default_said, \
            f"{setting.name}: the README cannot say what happens when it is unset"

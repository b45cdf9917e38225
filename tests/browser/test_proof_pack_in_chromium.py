"""The proof pack renders in a real browser (headless Chromium) as the clinic would read it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.domain import proof
from service.domain.ledger import Actor
from service.proof_document import render_html
from tests.proof_support import three_people


@pytest.mark.slow
def test_the_pack_renders_in_chromium(
    browser: Any, client: Any, container: Any, clock: Any, tmp_path: Path
) -> None:
    people = three_people(client, container, clock)
    pack = proof.proof_pack(container.uow(), container.deps, people["maija"],
                            Actor.person(), verification=proof.Verification(True, None))
    page = tmp_path / "pack.html"
    page.write_text(render_html(pack, "en"), encoding="utf-8")
    browser.get(page.as_uri())
    assert browser.title.startswith("Proof of consent")
    events = browser.find_elements("css selector", "section.event")
    assert len(events) == 2 and events[0].is_displayed()
    assert "gave consent" not in events[0].text and "asked for the newsletter" in events[0].text

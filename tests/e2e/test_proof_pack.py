"""The proof pack: what the clinic sends the Data Protection Ombudsman for one person.

Three people, three ways of consenting (the web form with its confirmation, at the desk, a
WordPress plugin and then a withdrawal); the pack shows each event in the practice's time, in
words, with the wording shown, the evidence held, its place in the hash chain and the
checkpoint that covers it, and whether the ledger verified. It renders in Chromium and as PDF,
and producing it is logged.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from tests.ledger_support import consent, tamper
from tests.proof_support import three_people
from tests.staff_support import add_account, audit_actions, enrol_and_login


def _staff_browser(app: Any, container: Any, clock: Any) -> Any:
    add_account(container, "omistaja", admin=True)
    browser = app.test_client()
    enrol_and_login(browser, clock, "omistaja")
    return browser


def test_the_pack_shows_each_event_in_words_local_time_wording_evidence_and_chain(
    app: Any, client: Any, container: Any, clock: Any
) -> None:
    people = three_people(client, container, clock)
    container.make_checkpoint()
    staff = _staff_browser(app, container, clock)
    page = staff.get(f"/staff/contacts/{people['maija']}/proof.html")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "Todiste suostumuksesta" in html
    # 09:00 UTC on 20 November is 11.00 in Helsinki.
    assert "20.11.2026 11.00.00" in html and "Europe/Helsinki" in html
    assert "pyysi uutiskirjettä" in html and "vahvisti sähköpostin linkillä" in html
    assert "203.0.113.5" in html and "https://www.klinikka.fi/uutiskirje" in html
    assert "Koko kirjanpito tarkistettiin: ketjut ovat ehjät." in html
    assert "kohta 1" in html and "Kattava tarkistuspiste: 20.11.2026" in html
    assert "requested" not in html and "web_form" not in html, "words, not codes"
    assert "contact.proof" in audit_actions(container)

    desk = staff.get(f"/staff/contacts/{people['asa']}/proof.html?lang=en").get_data(
        as_text=True)
    assert "Proof of consent" in desk and "verbally in person" in desk
    assert "text message" in desk and "on the register" in desk
    withdrawn = staff.get(f"/staff/contacts/{people['pekka']}/proof.html?lang=fi").get_data(
        as_text=True)
    assert "perui suostumuksen" in withdrawn and "yhden napsautuksen peruutus" in withdrawn
    assert "198.51.100.7" in withdrawn and "verkkosivun lomake" in withdrawn


def test_the_pack_says_when_the_ledger_does_not_verify(
    app: Any, client: Any, container: Any, clock: Any
) -> None:
    people = three_people(client, container, clock)
    tamper(container, "UPDATE consent_events SET channel = 'sms' WHERE id = 1")
    staff = _staff_browser(app, container, clock)
    html = staff.get(f"/staff/contacts/{people['maija']}/proof.html").get_data(as_text=True)
    assert "Kirjanpito EI ole ehjä:" in html


def test_the_pack_downloads_as_a_pdf_that_reads_back(
    app: Any, client: Any, container: Any, clock: Any
) -> None:
    people = three_people(client, container, clock)
    staff = _staff_browser(app, container, clock)
    answer = staff.get(f"/staff/contacts/{people['asa']}/proof.pdf?lang=en")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    assert "attachment" in answer.headers["Content-Disposition"]
    words = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(answer.data)).pages)
    assert "Proof of consent" in words and "asa@example.se" in words
    assert "verbally in person" in words


def test_consent_proof_writes_the_html_and_pdf_for_an_address(
    client: Any, container: Any, clock: Any, settings: Any, tmp_path: Path
) -> None:
    three_people(client, container, clock)
    result = consent(settings, "proof", "Maija@Example.fi", "--output", str(tmp_path),
                     "--language", "sv")
    assert result.exit_code == 0, result.output
    [page] = tmp_path.glob("proof-*.html")
    [pdf] = tmp_path.glob("proof-*.pdf")
    assert "Bevis på samtycke" in page.read_text(encoding="utf-8")
    assert pdf.read_bytes().startswith(b"%PDF")
    assert "the ledger is whole" in result.output
    unknown = consent(settings, "proof", "nobody@example.fi", "--output", str(tmp_path))
    assert unknown.exit_code != 0 and "no live contact" in unknown.output

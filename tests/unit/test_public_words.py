"""What people read of the practice: its name never inflected, placeholders named at start,
the per-person export in the reader's words."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from service.domain.personal_record import BOM, record_as_csv, worded_record
from service.runner import identity_warning
from service.settings import load_settings

CATALOGUES = Path(__file__).resolve().parents[2] / "service" / "translations"
# "Virtanen:lle", "Virtanen -uutiskirjeen", "{org}n": a case ending glued to the name.
INFLECTED = re.compile(r"\{org\}(?::[a-zåäö]|\s?-[a-zåäö]|[a-zåäö])")

RECORD = {
    "contact": {"id": "3f0c", "email": "maija@example.fi", "name": "Mäkelä", "phone": None},
    "subscriptions": [{"channel": "email", "state": "subscribed", "since": "2026-11-20"}],
    "consent_events": [{"id": 7, "kind": "granted",
                        "evidence": {"ip": "192.0.2.1", "fields": {"email": "x"}}}],
    "corrections": [],
    "audit_entries": [{"action": "contact.export", "detail": {"format": "csv"}}],
    "exported_at": "2026-11-20T09:00:00+00:00",
}


def msgstrs(language: str) -> dict[str, str]:
    text = (CATALOGUES / language / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    entries = re.findall(r'^msgid "(.+)"\nmsgstr ((?:".*"\n?)+)', text, re.M)
    return {key: "".join(re.findall(r'"(.*)"', value)) for key, value in entries}


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
def test_no_sentence_inflects_the_practices_name(language: str) -> None:
    inflected = {k: v for k, v in msgstrs(language).items() if INFLECTED.search(v)}
    assert inflected == {}


def test_serve_names_the_settings_still_showing_placeholders(tmp_path: Path) -> None:
    warning = identity_warning(load_settings({"CONSENT_DATA_DIR": str(tmp_path)}))
    assert warning is not None
    for name in ("CONSENT_ORGANIZATION", "CONSENT_MAIL_FROM", "CONSENT_PRIVACY_URL"):
        assert name in warning
    assert "Our practice" in warning and "noreply@localhost" in warning


def test_serve_says_nothing_once_the_practice_is_named(tmp_path: Path) -> None:
    assert identity_warning(load_settings({
        "CONSENT_DATA_DIR": str(tmp_path), "CONSENT_ORGANIZATION": "Kiropraktikko Virtanen",
        "CONSENT_MAIL_FROM": "uutiskirje@virtanen.example.fi",
        "CONSENT_PRIVACY_URL": "https://virtanen.example.fi/tietosuoja"})) is None


def test_a_persons_csv_export_for_a_reader_is_in_their_words_and_opens_in_excel() -> None:
    text = record_as_csv(RECORD, "fi")
    assert text.startswith(BOM)
    rows = list(csv.reader(io.StringIO(text.removeprefix(BOM))))
    assert rows[0] == ["Osio", "Rivi", "Kenttä", "Arvo"]
    assert ["Yhteystiedot", "", "Nimi", "Mäkelä"] in rows
    assert ["Suostumustapahtumat", "1", "Todiste: IP-osoite", "192.0.2.1"] in rows
    assert rows[-1] == ["Vienti", "", "Viety", "2026-11-20T09:00:00+00:00"]


def test_a_persons_csv_export_for_programs_keeps_its_codes_and_no_mark() -> None:
    text = record_as_csv(RECORD)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["section", "item", "field", "value"]
    assert ["consent_events", "1", "evidence.ip", "192.0.2.1"] in rows


def test_a_persons_json_export_names_its_keys_in_the_readers_language_not_the_data() -> None:
    worded = worded_record(RECORD, "sv")
    assert worded["Kontaktuppgifter"]["E-post"] == "maija@example.fi"
    assert worded["Samtyckeshändelser"][0]["Bevis"] == {
        "IP-adress": "192.0.2.1", "Formulärets fält": {"email": "x"}}
    assert worded["Loggposter"][0]["Detaljer"] == {"format": "csv"}
    assert worded["Exporterad"] == "2026-11-20T09:00:00+00:00"

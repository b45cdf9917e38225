"""The one set of catalogues: complete in every language, compiled in step, and times a person
reads in the practice's zone and the reader's locale."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from service import proof_document
from service.domain import i18n
from service.domain.languages import LANGUAGES
from service.web.staff.words import field_label, words

SERVICE = Path(i18n.__file__).resolve().parent.parent
TEMPLATES = SERVICE / "web" / "templates"


def catalogue(language: str, suffix: str = "po") -> dict[str, str]:
    """Read one language's catalogue as {msgid: msgstr}."""
    path = i18n.CATALOGUES / language / "LC_MESSAGES" / f"{i18n.DOMAIN}.{suffix}"
    with path.open("rb") as f:
        read = read_po(f) if suffix == "po" else read_mo(f)
    return {str(m.id): str(m.string) for m in read if m.id}


def fields(text: str) -> set[str]:
    """Return the str.format fields a text fills in."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_msgid_has_words_in_finnish_swedish_and_english() -> None:
    finnish = catalogue("fi")
    for language in LANGUAGES:
        words_of = catalogue(language)
        assert set(words_of) == set(finnish), f"{language} has other msgids than fi"
        empty = sorted(key for key, text in words_of.items() if not text.strip())
        assert not empty, f"{language} has no words for {empty}"


def test_every_language_fills_in_the_same_placeholders() -> None:
    english = catalogue("en")
    for language in ("fi", "sv"):
        for key, text in catalogue(language).items():
            assert fields(text) == fields(english[key]), f"{language} {key}"


def test_compiled_catalogues_are_in_step_with_the_po_files() -> None:
    for language in LANGUAGES:
        assert catalogue(language, "mo") == catalogue(language), (
            f"{language}: run `pybabel compile -d service/translations` (docs/translations.md)")


def test_every_key_a_staff_template_names_is_in_the_catalogue() -> None:
    named = set()
    for template in (TEMPLATES / "staff").glob("*.html"):
        named |= set(re.findall(r"""\bw\(["']([a-z_.]+)["']""", template.read_text()))
    # A key ending in "." or "_" is completed at run time ("channel." ~ code): its words are tested
    # where the codes are.
    missing = sorted(key for key in named
                     if not key.endswith((".", "_")) and not i18n.has(f"staff.{key}"))
    assert named and not missing


def test_every_key_the_public_pages_and_mail_name_is_in_the_catalogue() -> None:
    named = set()
    for path in [*TEMPLATES.glob("*.html"), *(SERVICE / "web").glob("*.py"),
                 *(SERVICE / "domain").glob("*.py")]:
        named |= set(re.findall(r"""\bt\([a-z_]+, ["']([a-z_.]+)["']""", path.read_text()))
    missing = sorted(key for key in named if not key.endswith(".") and not i18n.has(key))
    assert named and not missing


def test_a_language_the_service_does_not_speak_reads_finnish() -> None:
    assert i18n.t("de", "form.title") == i18n.t("fi", "form.title") == "Tilaa uutiskirje"


def test_every_language_has_a_locale_for_its_dates() -> None:
    assert set(i18n.LOCALES) == set(LANGUAGES)


def test_staff_pages_speak_swedish_too() -> None:
    assert words("fi", "nav.search") == "Hae henkilöä"
    assert words("sv", "nav.search") == "Sök person"
    assert words("en", "nav.search") == "Find a person"
    assert words("sv", "parked.banner", count=2) == "Meddelanden som inte kan skickas: 2."
    assert field_label("sv", "channels") == "Kanaler" and field_label("sv", "q") == "q"


def test_the_proof_pack_and_the_staff_pages_share_the_records_vocabulary() -> None:
    assert proof_document.words("sv", "kind.granted") == "gav samtycke"
    assert proof_document.words("fi", "method.verbal_phone") == "suullisesti puhelimessa"
    assert proof_document.words("en", "title") == "Proof of consent"
    assert proof_document.words("fi", "method.invented") == "invented"


# 16:39 UTC is 18:39 in Helsinki in winter (UTC+2) and 19:39 in summer (UTC+3).
WINTER = datetime(2026, 3, 4, 16, 39, 5, tzinfo=UTC)
SUMMER = datetime(2026, 7, 4, 16, 39, 5, tzinfo=UTC)


@pytest.mark.parametrize(("language", "winter", "summer"), [
    ("fi", "4.3.2026 18.39 (UTC+2)", "4.7.2026 19.39 (UTC+3)"),
    ("sv", "4.3.2026 18.39 (UTC+2)", "4.7.2026 19.39 (UTC+3)"),
    ("en", "04/03/2026, 18:39 (UTC+2)", "04/07/2026, 19:39 (UTC+3)"),
])
def test_a_utc_moment_reads_as_helsinki_wall_time_in_the_readers_locale(
    language: str, winter: str, summer: str
) -> None:
    assert i18n.local_time(WINTER, language, "Europe/Helsinki") == winter
    assert i18n.local_time(SUMMER, language, "Europe/Helsinki") == summer


def test_a_stored_moment_without_a_zone_is_utc_and_an_iso_string_is_read() -> None:
    naive = datetime(2026, 3, 4, 16, 39, 5)
    assert i18n.local_time(naive, "fi", "Europe/Helsinki") == "4.3.2026 18.39 (UTC+2)"
    assert i18n.local_time("2026-03-04T16:39:05+00:00", "fi", "Europe/Helsinki",
                           seconds=True) == "4.3.2026 18.39.05 (UTC+2)"
    assert i18n.local_time(None, "fi", "Europe/Helsinki") == "–"


def test_another_practice_zone_moves_the_wall_time() -> None:
    assert i18n.local_time(WINTER, "en", "Asia/Kolkata") == "04/03/2026, 22:09 (UTC+5:30)"
    assert i18n.local_time(WINTER, "en", "UTC") == "04/03/2026, 16:39 (UTC)"


def test_a_receipt_date_is_written_out_in_the_persons_language() -> None:
    assert i18n.local_date(WINTER, "fi", "Europe/Helsinki") == "4. maaliskuuta 2026"
    assert i18n.local_date(WINTER, "sv", "Europe/Helsinki") == "4 mars 2026"
    assert i18n.local_date(WINTER, "en", "Europe/Helsinki") == "4 March 2026"


def test_what_the_person_did_is_the_persons_and_staff_are_named() -> None:
    assert i18n.actor_words("fi", "person", "1:omistaja") == "henkilö itse"
    assert i18n.actor_words("fi", "staff", "1:omistaja") == "henkilökunta (omistaja)"
    assert i18n.actor_words("sv", "api_key", "3:kassa") == "API-nyckel (kassa)"
    assert i18n.actor_words("en", "system", "retention") == "the system (retention)"


def test_codes_read_as_words_and_unknown_codes_stay_visible() -> None:
    assert i18n.word_or_code("fi", "audit_action", "contact.search") == "henkilöhaku"
    assert i18n.word_or_code("sv", "webhook_event", "consent.granted") == "samtycke givet"
    assert i18n.word_or_code("fi", "audit_action", "something.new") == "something.new"


def test_an_undone_withdrawal_is_said_in_words() -> None:
    assert i18n.note_words("fi", "undoes withdrawal event 11") == \
        "Kumoaa peruutuksen (tapahtuma 11)"
    assert i18n.note_words("fi", "soitti vastaanottoon") == "soitti vastaanottoon"


def test_languages_are_named_in_the_readers_language() -> None:
    assert [i18n.language_name(c, "fi") for c in LANGUAGES] == ["suomi", "ruotsi", "englanti"]
    assert [i18n.language_name(c, "sv") for c in LANGUAGES] == ["finska", "svenska", "engelska"]
    assert i18n.language_name("sv", "en") == "Swedish"

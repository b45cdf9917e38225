"""The rules behind the staff home page and the verbal consent form, without a database: which
settings still need setting, how the register copy stands, which wording is read out."""

from __future__ import annotations

from dataclasses import replace

from service.domain import verbal
from service.settings import load_settings
from service.web.staff.overview import mirror_state, settings_to_set

BASE = {"CONSENT_DATA_DIR": "instance-test", "CONSENT_SECRET_KEYS": "test-key-0123456789abcdef"}
TEXTS = {"fi": "Suostun uutiskirjeeseen.", "sv": "Jag samtycker till nyhetsbrevet.",
         "en": "I agree to the newsletter."}


def test_with_the_defaults_the_practice_is_told_to_set_its_name_sender_and_privacy_notice(
) -> None:
    defaults = load_settings(BASE)
    assert settings_to_set(defaults) == [
        ("CONSENT_ORGANIZATION", "Our practice"), ("CONSENT_MAIL_FROM", "noreply@localhost"),
        ("CONSENT_PRIVACY_URL", None)]


def test_each_practice_setting_once_set_drops_out_of_the_notice() -> None:
    set_up = load_settings({**BASE, "CONSENT_ORGANIZATION": "Kiropraktikko Virtanen",
                            "CONSENT_MAIL_FROM": "uutiskirje@klinikka.fi"})
    assert [name for name, _ in settings_to_set(set_up)] == ["CONSENT_PRIVACY_URL"]
    done = replace(set_up, privacy_url="https://klinikka.fi/tietosuoja")
    assert settings_to_set(done) == []


def test_the_register_copy_reads_as_never_ok_catching_up_retrying_or_needing_attention() -> None:
    when = "2026-11-20T09:00:00+00:00"
    assert mirror_state({}, on_sheet=False).state == "never"
    assert mirror_state({"last_success": when, "lag_seconds": 0.0}, on_sheet=True).state == "ok"
    assert mirror_state({"last_success": when, "lag_seconds": 4.0},
                        on_sheet=True).state == "catching_up"
    assert mirror_state({"last_success": when, "last_error": "timeout",
                         "needs_attention": False}, on_sheet=True).state == "retrying"
    assert mirror_state({"last_error": "no access", "needs_attention": True},
                        on_sheet=True).state == "attention"


def test_the_wording_read_out_is_in_the_persons_language() -> None:
    wording = verbal.wording_to_read(TEXTS, 3, "sv")
    assert (wording.version, wording.language, wording.text) == (
        3, "sv", "Jag samtycker till nyhetsbrevet.")
    assert wording.in_persons_language


def test_without_a_text_in_the_persons_language_the_recorded_finnish_one_is_shown() -> None:
    wording = verbal.wording_to_read({"fi": TEXTS["fi"], "en": TEXTS["en"]}, 2, "sv")
    assert (wording.language, wording.in_persons_language) == ("fi", False)


def test_the_form_language_is_the_chosen_one_else_the_practice_default() -> None:
    assert verbal.form_language({"language": "sv"}, default_language="fi") == "sv"
    assert verbal.form_language({"language": "sv-FI"}, default_language="fi") == "sv"
    assert verbal.form_language({}, default_language="en") == "en"
    assert verbal.form_language({"language": "de"}, default_language="fi") == "fi"

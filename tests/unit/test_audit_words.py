"""The audit log in words: each entry's detail as labelled fields, actions and actors by name,
and a day filter that means the practice's own days."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from service.domain import audit, i18n
from service.web.staff import audit_words


def test_a_detail_reads_as_labelled_finnish_words_not_json() -> None:
    detail = {"channels": ["email", "sms"], "method": "verbal_phone", "notice": 3}
    assert audit_words.detail_in_words("fi", detail) == [
        ("Kanavat", "sähköposti, tekstiviesti"), ("Tapa", i18n.t("fi", "method.verbal_phone")),
        ("Lupatekstin versio", "3")]


def test_yes_no_reasons_and_languages_are_said_in_the_readers_language() -> None:
    assert audit_words.detail_in_words("fi", {"why": "password", "drop_old": True}) == [
        ("Syy", "väärä salasana"), ("Vanha avain lakkasi heti", "kyllä")]
    assert audit_words.detail_in_words("sv", {"languages": ["fi", "sv"]}) == [
        ("Språk", "finska, svenska")]


def test_a_search_lists_people_by_short_id_and_an_unknown_field_keeps_its_name() -> None:
    found = audit_words.detail_in_words("en", {
        "contacts": ["0123456789abcdef-aaaa", "fedcba9876543210-bbbb"], "shiny": 7})
    assert found == [("People shown", "01234567, fedcba98"), ("shiny", "7")]


def test_an_entry_without_detail_shows_no_fields() -> None:
    assert audit_words.detail_in_words("fi", None) == []


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
def test_every_action_the_service_logs_has_words_in_every_language(language: str) -> None:
    for action in audit.ACTIONS:
        assert i18n.word_or_code(language, "audit_action", action) != action, action


def test_the_choice_of_actions_is_in_alphabetical_order_of_its_words() -> None:
    words = [c.words for c in audit_words.action_choices("fi")]
    assert words == sorted(words, key=str.casefold) and "epäonnistunut kirjautuminen" in words


def test_who_offers_kinds_of_actor_then_each_staff_member_by_name() -> None:
    found = audit_words.who_choices("fi", [("staff", "3:omistaja"), ("system", "cli")])
    assert [(c.value, c.words) for c in found] == [
        ("staff", i18n.t("fi", "actor.staff")), ("system", i18n.t("fi", "actor.system")),
        ("staff:3:omistaja", f"{i18n.t('fi', 'actor.staff')} (omistaja)")]


def test_a_span_of_days_is_the_practices_days_the_last_one_whole() -> None:
    since, until = audit_words.day_span(date(2026, 3, 4), date(2026, 3, 4), "Europe/Helsinki")
    assert since is not None and until is not None
    assert since.astimezone(UTC) == datetime(2026, 3, 3, 22, 0, tzinfo=UTC)
    assert until.astimezone(UTC) == datetime(2026, 3, 4, 22, 0, tzinfo=UTC)


def test_the_filter_ignores_a_date_or_page_that_is_not_one() -> None:
    wanted = audit_words.wanted_from({"from": "eilen", "before": "²", "who": " staff "},
                                     "Europe/Helsinki")
    assert wanted == audit.AuditFilter(who="staff")

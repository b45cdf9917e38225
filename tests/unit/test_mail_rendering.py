"""Rendered mail, read back from its bytes: headers survive, addresses go as mail can carry them."""

from __future__ import annotations

import email
import email.policy
import re
import unicodedata
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from service.domain import letters, mail
from service.domain.dependencies import Deps, Practice
from service.domain.normalize import email_key, parse_email
from service.domain.tokens import TokenService
from tests.conftest import FakeClock
from tests.smtp_sink import addr_specs

# RFC 2919: List-Id: [phrase] "<" list-label "." list-id-namespace ">", all of it dot-atom text.
LIST_ID = re.compile(r"(?P<phrase>.*)<(?P<id>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)>")
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def deps(organization: str = "Kiropraktikko Testi",
         mail_from: str = "uutiskirje@klinikka.example.fi") -> Deps:
    practice = Practice(organization=organization, public_url="https://consent.example.fi",
                        mail_from=mail_from, privacy_url=None, unsubscribe_mailto=None,
                        double_opt_in=True, default_language="fi")
    clock = FakeClock()
    return Deps(clock=clock, tokens=TokenService(["k" * 20], clock), practice=practice)


def rendered(to: str = "maija@example.fi", *, sender: str = "uutiskirje@klinikka.example.fi",
             language: str = "sv", headers: dict[str, str] | None = None) -> tuple[bytes, Any]:
    letter = mail.Letter(to=to, to_name="Jörg Ääli", language=language, subject="Hej – Hyvä Olo",
                         paragraphs=["Hej!"], headers=headers or {})
    raw = mail.render(letter, sender=sender, sender_name="Hyvä Olo", message_id="<x@y.fi>",
                      date=NOW)
    return raw, email.message_from_bytes(raw, policy=email.policy.default)


def test_content_language_is_in_the_message_a_reader_receives() -> None:
    raw, message = rendered(language="sv")
    assert message["Content-Language"] == "sv"
    assert raw.count(b"Content-Language:") == 1


def test_plain_address_gives_an_ascii_message_that_needs_no_smtputf8() -> None:
    raw, message = rendered("maija@example.fi")
    assert raw.isascii()
    assert message["To"].addresses[0].addr_spec == "maija@example.fi"
    assert str(message["Subject"]) == "Hej – Hyvä Olo"


def test_non_ascii_local_part_gives_utf8_headers_with_the_address_as_stored() -> None:
    raw, message = rendered("jörg@example.fi")
    assert "To: Jörg Ääli <jörg@example.fi>".encode() in raw
    assert addr_specs(message, "To") == ["jörg@example.fi"]
    assert message["Content-Language"] == "sv"


def test_non_ascii_sender_local_part_gives_utf8_headers_too() -> None:
    raw, message = rendered("maija@example.fi", sender="jörg@klinikka.example.fi")
    assert addr_specs(message, "From") == ["jörg@klinikka.example.fi"]
    assert not raw.isascii()


def test_internationalised_domain_alone_goes_in_its_ascii_form() -> None:
    raw, message = rendered("maija@exämple.fi")
    assert raw.isascii(), "no SMTPUTF8 needed for a domain: it has an ASCII (IDNA) form"
    assert message["To"].addresses[0].addr_spec == "maija@xn--exmple-cua.fi"
    assert mail.envelope_address("maija@exämple.fi") == "maija@xn--exmple-cua.fi"
    assert not mail.needs_smtputf8(["maija@xn--exmple-cua.fi", "a@b.fi"])
    assert mail.needs_smtputf8([mail.envelope_address("jörg@exämple.fi")])


def test_subscription_mail_list_id_is_stable_and_rfc_2919_shaped() -> None:
    [(name, value)] = letters.list_id_header(deps()).items()
    assert name == "List-Id"
    match = LIST_ID.fullmatch(value)
    assert match, value
    assert match.group("id") == "newsletter.klinikka.example.fi"
    assert match.group("phrase").strip() == "Kiropraktikko Testi newsletter"
    # The id does not depend on the wording of the organisation's name.
    other = letters.list_id_header(deps(organization="Hyvä Olo, Oy"))["List-Id"]
    assert LIST_ID.fullmatch(other) and other.endswith("<newsletter.klinikka.example.fi>")


@pytest.mark.parametrize(("organization", "mail_from", "shown", "list_id"), [
    ("Hyvä Olo Oy", "uutiskirje@klinikka.example.fi",
     "Hyvä Olo Oy newsletter", "newsletter.klinikka.example.fi"),
    ('Klinikka "Aurinko", Oy', "Posti@Klinikka.Example.FI",
     r'"Klinikka \"Aurinko\", Oy newsletter"', "newsletter.klinikka.example.fi"),
    ("Klinikka", "uutiskirje@hyväolo.fi", "Klinikka newsletter", "newsletter.xn--hyvolo-dua.fi"),
    ("Klinikka", "noreply@localhost", "Klinikka newsletter", "newsletter.localhost"),
])
def test_list_id_reads_back_from_the_rendered_message(
    organization: str, mail_from: str, shown: str, list_id: str
) -> None:
    headers = letters.list_id_header(deps(organization, mail_from))
    raw, message = rendered(headers=headers)
    assert f"<{list_id}>\r\n".encode() in raw, "the id itself is written as it is"
    assert str(message["List-Id"]) == f"{shown} <{list_id}>"
    assert raw.count(b"List-Id:") == 1


def test_message_id_domain_is_ascii_for_an_internationalised_sender() -> None:
    assert mail.message_id_for("k", "uutiskirje@hyväolo.fi").endswith("@xn--hyvolo-dua.fi>")
    assert mail.message_id_for("k", "a@b.fi") == mail.message_id_for("k", "x@b.fi")


@pytest.mark.parametrize("typed", [
    "jörg@example.fi",
    unicodedata.normalize("NFD", "jörg@example.fi"),
    " jörg@example.fi ",
])
def test_address_is_stored_in_nfc_however_it_was_typed(typed: str) -> None:
    address = parse_email(typed)
    assert address.display == "jörg@example.fi"
    assert unicodedata.is_normalized("NFC", address.display)
    assert address.key == "jörg@example.fi"


@pytest.mark.parametrize("typed", [
    "maija@exämple.fi", "maija@EXÄMPLE.FI", "maija@xn--exmple-cua.fi", "maija@XN--EXMPLE-CUA.FI",
    unicodedata.normalize("NFD", "maija@exämple.fi"),
])
def test_internationalised_domain_is_one_address_in_every_form(typed: str) -> None:
    address = parse_email(typed)
    assert address.display == "maija@exämple.fi"
    assert address.key == "maija@exämple.fi"
    # A provider reports a bounce with the address as it was sent: it finds the same key.
    assert email_key(mail.envelope_address(address.display)) == address.key


def test_upper_case_international_address_keeps_its_local_part_and_matches_lower_case() -> None:
    address = parse_email("JÖRG@EXÄMPLE.FI")
    assert address.display == "JÖRG@exämple.fi"
    assert address.key == parse_email("jörg@exämple.fi").key == "jörg@exämple.fi"


def _part_languages(message: EmailMessage) -> list[str | None]:
    return [part.get("Content-Language") for part in message.iter_parts()]


def test_content_language_is_said_once_for_the_whole_message() -> None:
    _raw, message = rendered(language="fi")
    assert message["Content-Language"] == "fi"
    assert _part_languages(message) == [None, None]


LINK = "https://consent.example.fi/unsubscribe/eyJjIjoiM2YwYyIsImNoIjoiZW1haWwifQ.Zk9x-1_aQ"


def footed(practice_deps: Deps, language: str = "fi") -> EmailMessage:
    letter = mail.Letter(
        to="maija@example.fi", to_name=None, language=language, subject="Tervetuloa",
        paragraphs=["Hei!"], footer=letters._footer(practice_deps, language),
        footer_links=letters._footer_links(practice_deps, language, LINK))
    raw = mail.render(letter, sender="uutiskirje@klinikka.example.fi", sender_name="Testi",
                      message_id="<x@y.fi>", date=NOW)
    return email.message_from_bytes(raw, policy=email.policy.default)


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    page = message.get_body(preferencelist=("html",))
    assert text is not None and page is not None
    return text.get_content().replace("\r\n", "\n"), page.get_content()


def test_the_unsubscribe_link_is_a_short_labelled_link_and_a_whole_url_in_the_text() -> None:
    text, page = parts(footed(deps()))
    assert f'Et halua enää viestejä? <a href="{LINK}">Peru tilaus</a>' in page
    assert f">{LINK}<" not in page, "no raw URL running off a phone screen"
    # Its own line, in angle brackets (RFC 3986, appendix C): nothing glued to its ends.
    assert f"Et halua enää viestejä? Peru tilaus:\n<{LINK}>" in text


def test_the_footer_says_who_sends_the_mail_and_how_to_reach_them() -> None:
    practice = deps("Kiropraktikko Virtanen").practice
    located = Deps(clock=FakeClock(), tokens=TokenService(["k" * 20], FakeClock()),
                   practice=type(practice)(**{
                       **practice.__dict__, "organization_address": "Kauppakatu 1, Jyväskylä",
                       "privacy_url": "https://virtanen.example.fi/tietosuoja"}))
    text, page = parts(footed(located, "sv"))
    footer = text.split("\n-- \n", 1)[1]
    assert footer.splitlines()[:3] == ["Kiropraktikko Virtanen", "Kauppakatu 1, Jyväskylä",
                                       "Kontakta oss: uutiskirje@klinikka.example.fi"]
    assert "Dataskyddsbeskrivning:\n<https://virtanen.example.fi/tietosuoja>" in text
    assert '<a href="https://virtanen.example.fi/tietosuoja">Dataskyddsbeskrivning</a>' in page


def test_a_no_reply_sender_is_not_offered_as_a_way_to_reach_the_practice() -> None:
    text, _ = parts(footed(deps(mail_from="noreply@klinikka.example.fi")))
    assert "Ota yhteyttä" not in text

"""Validation and normal forms of what people type: addresses, phone numbers, names."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import phonenumbers
from email_validator import EmailNotValidError, validate_email

MAX_EMAIL = 254
MAX_NAME = 200
MAX_PHONE = 32
MAX_URL = 2000
# Numbers people and programs send are read only as ASCII digits ("²".isdigit() is true, and
# int("²") fails), and only within what the columns hold.
MAX_INT = 2**31 - 1  # an INTEGER column (notice versions)
MAX_BIG = 2**63 - 1  # a BIGINT column (row ids, cursors)
# Characters no text we keep may hold: NUL (PostgreSQL refuses it) and the other C0/C1 controls
# (they reach mail headers and bodies). Tab and line breaks are allowed where text has lines.
_CONTROLS = frozenset(chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)])
_LINE_CONTROLS = _CONTROLS - {"\t", "\n", "\r"}

T = TypeVar("T")


@dataclass(frozen=True)
class FieldProblem:
    """One field and what is wrong with it, in words a caller can act on."""

    field: str
    problem: str
    # Names the problem for a page in the person's language (i18n "problem.<code>"); the
    # English `problem` is what programs get.
    code: str = ""
    limit: int | None = None


def too_long(field: str, limit: int) -> FieldProblem:
    """Say that a field is longer than it may be."""
    return FieldProblem(field, f"is longer than {limit} characters", "too_long", limit)


def whole_number(text: object, *, low: int = 0, high: int = MAX_BIG) -> int | None:
    """Read a whole number written in ASCII digits within [low, high]; anything else is None."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text if low <= text <= high else None
    if not isinstance(text, str):
        return None
    value = text.strip()
    if not value or len(value) > 19 or not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if low <= number <= high else None


def has_control_characters(text: str, *, multiline: bool = False) -> bool:
    """Tell whether text holds a control character (line breaks allowed when multiline)."""
    forbidden = _LINE_CONTROLS if multiline else _CONTROLS
    return not forbidden.isdisjoint(text)


def control_character_problem(field: str) -> FieldProblem:
    """Say that a field holds characters no text may hold."""
    return FieldProblem(field, "contains control characters (such as NUL); remove them",
                        "control_characters")


def check_text(field: str, text: str, *, multiline: bool = False) -> str:
    """Return text when it holds no control characters, else raise InvalidInput naming field."""
    if has_control_characters(text, multiline=multiline):
        raise InvalidInput([control_character_problem(field)])
    return text


class InvalidInput(Exception):
    """Input that cannot be accepted; names every field at fault."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        """Keep the problems."""
        super().__init__("; ".join(f"{p.field}: {p.problem}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Address:
    """An email address in its normal form, and its matching key.

    The normal form is what is stored and what mail is addressed to: trimmed and Unicode-NFC,
    the local part as entered (case kept: it is the mailbox owner's to interpret), an ASCII
    domain as entered, an internationalised domain in email-validator's normal Unicode form
    (so exämple.fi, EXÄMPLE.FI and xn--exmple-cua.fi are one address).
    """

    display: str
    key: str


def _internationalised(domain: str) -> bool:
    """Tell whether a domain has U-labels (exämple.fi) or A-labels (xn--exmple-cua.fi)."""
    return not domain.isascii() or "xn--" in domain.lower()


def _unicode_domain(domain: str) -> str:
    """Return an internationalised domain in its normal Unicode form; others as they are."""
    if not _internationalised(domain):
        return domain
    try:
        return validate_email(f"x@{domain}", check_deliverability=False).domain
    except EmailNotValidError:
        return domain


def email_key(address: str) -> str:
    """Return the key addresses are matched by: the normal form, lower-cased.

    A provider reporting a bounce names the address as it was sent, with an internationalised
    domain in its xn-- form; that form and the Unicode one have the same key.
    """
    value = unicodedata.normalize("NFC", address.strip())
    local, at, domain = value.rpartition("@")
    if at:
        value = f"{local}@{_unicode_domain(domain)}"
    return unicodedata.normalize("NFC", value.lower())


def parse_email(raw: str, field: str = "email") -> Address:
    """Validate an address by syntax only (no DNS) and return its normal form and key.

    Addresses with letters such as ö before the @ (RFC 6531) are accepted: mail to them is sent
    with SMTPUTF8 (see mail.py).
    """
    value = unicodedata.normalize("NFC", raw.strip())
    if not value:
        raise InvalidInput([FieldProblem(field, "is required", "required")])
    if len(value) > MAX_EMAIL:
        raise InvalidInput([too_long(field, MAX_EMAIL)])
    try:
        valid = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(
            [FieldProblem(field, f"is not a valid email address ({exc})", "email_invalid")]
        ) from None
    domain = value.rpartition("@")[2]
    display = f"{valid.local_part}@{valid.domain if _internationalised(domain) else domain}"
    return Address(display=display, key=email_key(display))


def ascii_domain(domain: str) -> str:
    """Return a domain in the ASCII form mail and DNS carry: U-labels become xn-- A-labels.

    Raises InvalidInput when an internationalised domain is not valid.
    """
    if domain.isascii():
        return domain
    try:
        return validate_email(f"x@{domain}", check_deliverability=False).ascii_domain
    except EmailNotValidError:
        raise InvalidInput(
            [FieldProblem("email", "has a domain that is not valid", "email_invalid")]
        ) from None


def sending_form(address: str) -> str:
    """Return the address as mail is sent to it: the stored local part, the domain in ASCII.

    An internationalised domain then needs nothing from the mail server; only letters such as
    ö before the @ do (SMTPUTF8, RFC 6531). Raises InvalidInput for a domain that is not valid.
    """
    local, at, domain = address.rpartition("@")
    return f"{local}@{ascii_domain(domain)}" if at else address


def parse_phone(raw: str, field: str = "phone", region: str = "FI") -> str:
    """Parse a phone number (Finland by default) to E.164."""
    value = raw.strip()
    if len(value) > MAX_PHONE:
        raise InvalidInput([too_long(field, MAX_PHONE)])
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise InvalidInput(
            [FieldProblem(field, "is not a phone number; write it as 040 123 4567 or +358...",
                          "phone_format")]
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(
            [FieldProblem(field, "is not a valid phone number; check the digits", "phone_invalid")]
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_name(raw: str, field: str = "name") -> str | None:
    """Trim a name and check its length; an empty name is none."""
    check_text(field, raw, multiline=True)  # white space of any kind becomes one space
    value = " ".join(raw.split())
    if len(value) > MAX_NAME:
        raise InvalidInput([too_long(field, MAX_NAME)])
    return value or None


def parse_noting(parse: Callable[[str], T], text: str | None,
                 problems: list[FieldProblem]) -> T | None:
    """Parse a field's text when there is any; what is wrong goes to `problems` (then None).

    For forms that name every field at fault at once instead of stopping at the first.
    """
    if not text:
        return None
    try:
        return parse(text)
    except InvalidInput as exc:
        problems.extend(exc.problems)
        return None


def text_as_sent(raw: Mapping[str, Any], name: str, problems: list[FieldProblem]) -> str | None:
    """Return a field's text as sent (a whole number as its digits); other kinds are a problem.

    For forms from websites and their programs, where "" and spaces still mean something to the
    field's own parser (a required address, a page URL).
    """
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        problems.append(FieldProblem(name, "must be text"))
        return None
    return value


def text_trimmed(raw: Mapping[str, Any], name: str, problems: list[FieldProblem]) -> str | None:
    """Return a field's text without surrounding spaces, none when empty; only text is text.

    For staff forms and the staff API, where an empty field is a field left out.
    """
    value = raw.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problems.append(FieldProblem(name, "must be text"))
        return None
    return value.strip() or None


def parse_notice(raw: object, field: str = "notice") -> int | None:
    """Read the privacy-notice version a form names: a positive number; none when left out."""
    if raw is None or raw == "":
        return None
    number = whole_number(raw, low=1, high=MAX_INT)
    if number is None:
        raise InvalidInput([FieldProblem(field, "must be a notice version number",
                                          "notice_number")])
    return number


def mask_email(address: str) -> str:
    """Show an address so its owner recognises it and nobody else learns it: m***@example.fi."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"

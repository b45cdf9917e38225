"""Validation and normal forms of what people type: addresses, phone numbers, names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import phonenumbers
from email_validator import EmailNotValidError, validate_email

MAX_EMAIL = 254
MAX_NAME = 200
MAX_PHONE = 32
MAX_URL = 2000
LANGUAGES = ("fi", "sv", "en")

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


class InvalidInput(Exception):
    """Input that cannot be accepted; names every field at fault."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        """Keep the problems."""
        super().__init__("; ".join(f"{p.field}: {p.problem}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Address:
    """An email address as entered (trimmed) and its matching key."""

    display: str
    key: str


def email_key(address: str) -> str:
    """Return the key addresses are matched by: trimmed and lower-cased, nothing else."""
    return address.strip().lower()


def parse_email(raw: str, field: str = "email") -> Address:
    """Validate an address by syntax only (no DNS) and return it with its key."""
    value = raw.strip()
    if not value:
        raise InvalidInput([FieldProblem(field, "is required", "required")])
    if len(value) > MAX_EMAIL:
        raise InvalidInput([too_long(field, MAX_EMAIL)])
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(
            [FieldProblem(field, f"is not a valid email address ({exc})", "email_invalid")]
        ) from None
    return Address(display=value, key=email_key(value))


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
    value = " ".join(raw.split())
    if len(value) > MAX_NAME:
        raise InvalidInput([too_long(field, MAX_NAME)])
    return value or None


def parse_language(raw: str | None, default: str, field: str = "language") -> str:
    """Accept fi, sv or en (a regional tag such as fi-FI too)."""
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower().replace("_", "-").split("-")[0]
    if value not in LANGUAGES:
        raise InvalidInput([FieldProblem(field, "must be one of fi, sv, en", "language")])
    return value


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


def parse_notice(raw: object, field: str = "notice") -> int | None:
    """Read the privacy-notice version a form names: a positive number; none when left out."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    raise InvalidInput([FieldProblem(field, "must be a notice version number")])


def mask_email(address: str) -> str:
    """Show an address so its owner recognises it and nobody else learns it: m***@example.fi."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"

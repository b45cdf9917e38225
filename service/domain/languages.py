"""The languages the service speaks to people in, and the reader of a `language` field."""

from __future__ import annotations

from service.domain.normalize import FieldProblem, InvalidInput

# Finnish, Swedish, English; Finnish first, as the practice's default unless configured.
LANGUAGES: tuple[str, ...] = ("fi", "sv", "en")


def parse_language(raw: str | None, default: str, field: str = "language") -> str:
    """Accept fi, sv or en (a regional tag such as fi-FI too)."""
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower().replace("_", "-").split("-")[0]
    if value not in LANGUAGES:
        problem = f"must be one of {', '.join(LANGUAGES)}"
        raise InvalidInput([FieldProblem(field, problem, "language")])
    return value

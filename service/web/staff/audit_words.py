"""The audit log as an admin reads it: the filter from the page's query, the choices of what
happened and who, and each entry's detail as labelled fields in the page's language.

Pure functions over the catalogues (no Flask), so the words are proven without a request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from service.domain import audit, i18n
from service.domain.normalize import whole_number

# Detail fields whose values are codes with words of their own, by the family of those words.
CODED = {"channels": "staff.channel", "changed": "staff.channel", "channel": "staff.channel",
         "method": "method", "why": "audit_why", "with": "audit_with", "action": "audit_action",
         "events": "webhook_event"}
# Detail fields that hold people's ids: shown by their first characters, as the log's person
# column shows them, since a search's list of ids would otherwise fill the row.
PERSON_IDS = ("contacts",)
SHORT_ID = 8


@dataclass(frozen=True)
class Choice:
    """One option of a filter: the value sent and the words shown."""

    value: str
    words: str


def local_day(text: str | None) -> date | None:
    """Read a date from a date field (YYYY-MM-DD); anything else is no date."""
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        return None


def day_span(start: date | None, end: date | None, zone: str
             ) -> tuple[datetime | None, datetime | None]:
    """Return the moments a span of the practice's days covers: from start's midnight to the
    midnight after end (the last day counts whole)."""
    tz = ZoneInfo(zone)
    since = datetime.combine(start, time(), tz) if start else None
    until = datetime.combine(end + timedelta(days=1), time(), tz) if end else None
    return since, until


def wanted_from(args: Mapping[str, str], zone: str) -> audit.AuditFilter:
    """Build the log's filter from the page's query (what, who, person, from, to, page)."""
    since, until = day_span(local_day(args.get("from")), local_day(args.get("to")), zone)
    return audit.AuditFilter(
        action=(args.get("action") or "").strip() or None,
        who=(args.get("who") or "").strip() or None,
        contact=(args.get("contact") or "").strip() or None,
        since=since, until=until,
        before=whole_number(args.get("before") or ""),
        after=whole_number(args.get("after") or ""),
    )


def action_choices(language: str) -> list[Choice]:
    """Offer every action the log holds, in words, in alphabetical order of those words."""
    found = [Choice(a, i18n.word_or_code(language, "audit_action", a)) for a in audit.ACTIONS]
    return sorted(found, key=lambda c: c.words.casefold())


def who_choices(language: str, actors: Sequence[tuple[str, str | None]]) -> list[Choice]:
    """Offer who may have acted: each kind of actor, then each named staff member or key."""
    kinds = sorted({kind for kind, _ in actors})
    found = [Choice(kind, i18n.word_or_code(language, "actor", kind)) for kind in kinds]
    found += [Choice(f"{kind}:{actor_id}", i18n.actor_words(language, kind, actor_id))
              for kind, actor_id in actors if actor_id and kind in ("staff", "api_key")]
    return found


def _value_words(language: str, key: str, value: Any) -> str:
    """Say one detail value in words: yes or no, codes by their words, lists joined."""
    if isinstance(value, bool):
        return i18n.t(language, "staff.yes" if value else "staff.no")
    if isinstance(value, list | tuple):
        if not value:
            return "–"
        return ", ".join(_value_words(language, key, item) for item in value)
    if value is None:
        return "–"
    text = str(value)
    if key in CODED:
        return i18n.word_or_code(language, CODED[key], text)
    if key == "languages":
        return i18n.language_name(text, language)
    if key in PERSON_IDS:
        return text[:SHORT_ID]
    return text


def detail_in_words(language: str, detail: Any) -> list[tuple[str, str]]:
    """Return an entry's detail as (label, value) pairs in words, in the stored order of keys.

    A field the catalogue has no label for keeps its own name, so nothing stored is hidden.
    """
    if detail is None:
        return []
    if not isinstance(detail, Mapping):
        return [(i18n.t(language, "staff.col.detail"), str(detail))]
    return [(i18n.word_or_code(language, "audit_field", str(key)),
             _value_words(language, str(key), value)) for key, value in detail.items()]

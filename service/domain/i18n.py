"""Words and times shown to people, in Finnish, Swedish and English (Finnish is the default).

Every word a person reads (pages, mail, the proof pack, later the mirror's headers) lives in
one set of gettext catalogues, `service/translations/<language>/LC_MESSAGES/messages.po`,
compiled to the `.mo` files read here (docs/translations.md says how to add a string). A msgid
is a stable key ("form.title", "staff.nav.search"), never English text: English is a
translation like the others, so changing its wording changes no key. Placeholders are
`str.format` fields ("{org}").

The web pages reach the same catalogues through Flask-Babel; this module serves the rest
(mail, the proof pack, the CLI), which must not import Flask.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.support import NullTranslations, Translations

CATALOGUES = Path(__file__).resolve().parent.parent / "translations"
DOMAIN = "messages"
FALLBACK = "fi"

# The locale whose conventions each language's dates and times follow: Swedish as written in
# Finland, English as written in Europe (day before month, a 24-hour clock).
LOCALES: dict[str, str] = {"fi": "fi_FI", "sv": "sv_FI", "en": "en_GB"}


@functools.cache
def translations(language: str) -> NullTranslations:
    """Return the compiled catalogue of a language (Finnish for one the service does not speak)."""
    chosen = language if language in LOCALES else FALLBACK
    found = Translations.load(str(CATALOGUES), [chosen], DOMAIN)
    if not isinstance(found, Translations):
        # A missing .mo would print keys to people: fail where it is seen, at the first word.
        raise RuntimeError(f"no compiled catalogue for {chosen!r} in {CATALOGUES}")
    return found


def has(key: str) -> bool:
    """Tell whether the catalogue has words for key."""
    return translations(FALLBACK).gettext(key) != key


def t(language: str, key: str, **values: Any) -> str:
    """Return the text for key in language (Finnish for another language), filled with values."""
    text = translations(language).gettext(key)
    return text.format(**values) if values else text


def word_or_code(language: str, prefix: str, code: str) -> str:
    """Return the words for a code ("kind.granted"), or the code itself when there are none."""
    key = f"{prefix}.{code}"
    return t(language, key) if has(key) else code


def actor_words(language: str, actor_type: str | None, actor_id: str | None) -> str:
    """Say who acted: "henkilö itse", "henkilökunta (omistaja)", "järjestelmä (cli)".

    A staff account or API key is stored as "<id>:<name>"; the reader sees the name. The person
    is never named after a staff member, whatever the record's other columns hold.
    """
    kind = word_or_code(language, "actor", actor_type or "system")
    if actor_type == "person" or not actor_id:
        return kind
    return f"{kind} ({actor_id.partition(':')[2] or actor_id})"


# The note an undone withdrawal's evidence carries (service.domain.unsubscribe writes it).
UNDO_NOTE = re.compile(r"undoes withdrawal event (\d+)")


def note_words(language: str, note: str) -> str:
    """Return an evidence note in words: the service's own notes translated, staff's as typed."""
    undo = UNDO_NOTE.fullmatch(note)
    return t(language, "evidence.undoes", event=undo.group(1)) if undo else note


def language_name(code: str, reader: str) -> str:
    """Name a language in the reader's language ("ruotsi", "svenska", "Swedish")."""
    try:
        name = Locale.parse(code).get_language_name(LOCALES.get(reader, LOCALES[FALLBACK]))
    except (ValueError, TypeError):
        return code
    return name or code


def utc_offset(moment: datetime) -> str:
    """Return a zone-aware moment's offset as a person reads it: "UTC+2", "UTC+5:30"."""
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "") if minutes else "UTC"


def local_time(moment: datetime | str | None, language: str, zone: str, *,
               seconds: bool = False) -> str:
    """Return a moment as the practice's wall time in the reader's locale, with its zone.

    A naive moment is UTC, as the database stores it; an ISO string is read first. "–" for
    none. Example: 16:39 UTC in March reads "4.3.2026 18.39 (UTC+2)" in Finnish.
    """
    if moment is None or moment == "":
        return "–"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    local = moment.astimezone(ZoneInfo(zone))
    locale = LOCALES.get(language, LOCALES[FALLBACK])
    shown = format_datetime(local, "medium" if seconds else "short", locale=locale)
    return f"{shown} ({utc_offset(local)})"


def local_date(moment: datetime, language: str, zone: str) -> str:
    """Return the practice's date of a moment in the reader's words: "4. maaliskuuta 2026"."""
    local = moment.astimezone(ZoneInfo(zone))
    return format_date(local, "long", locale=LOCALES.get(language, LOCALES[FALLBACK]))

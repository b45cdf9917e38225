"""The pages' words and times: Flask-Babel bound to the language each page already chose.

The catalogues are the domain's (service.domain.i18n); Flask-Babel picks this request's one
and templates get `_`, plus filters that show a stored moment as the practice's wall time in
the reader's locale (`|local_time`) and a language code by its name (`|language_name`).
"""

from __future__ import annotations

from datetime import datetime

from flask import Flask, g

from service.domain import i18n
from service.web.current import settings
from service.web.extensions import babel


def page_language() -> str:
    """Return the language of the page being answered: a staff page's, else the public one's."""
    return str(g.get("staff_language") or g.get("language") or i18n.FALLBACK)


def practice_zone() -> str:
    """Return the practice's time zone (CONSENT_TIMEZONE)."""
    return settings().timezone


def local_time(moment: datetime | str | None, seconds: bool = False) -> str:
    """Show a stored moment as the practice's wall time in this page's locale, with its zone."""
    return i18n.local_time(moment, page_language(), practice_zone(), seconds=seconds)


def language_name(code: str | None) -> str:
    """Name a language in this page's language ("ruotsi" on a Finnish page)."""
    return i18n.language_name(code, page_language()) if code else "–"


def word_or_code(prefix: str, code: str | None) -> str:
    """Return the words for a stored code in this page's language, or the code when none."""
    return i18n.word_or_code(page_language(), prefix, code) if code else "–"


def actor(actor_type: str | None, actor_id: str | None) -> str:
    """Say who acted, in this page's language."""
    return i18n.actor_words(page_language(), actor_type, actor_id)


def note(text: str) -> str:
    """Return an evidence note in this page's language."""
    return i18n.note_words(page_language(), text)


def init_app(app: Flask) -> None:
    """Bind Flask-Babel to the app, with the page language as locale and the practice's zone."""
    babel.init_app(
        app, locale_selector=page_language, timezone_selector=practice_zone,
        default_translation_directories=str(i18n.CATALOGUES), default_domain=i18n.DOMAIN,
    )
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(language_name, "language_name")
    app.add_template_global(word_or_code, "word_or_code")
    app.add_template_global(actor, "actor")
    app.add_template_filter(note, "note")

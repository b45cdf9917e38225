"""Words of the staff pages, in Finnish (the default), Swedish and English.

The words live in the one set of gettext catalogues (service/translations), under keys that
start with "staff."; Flask-Babel finds this request's catalogue (see service.web.translation).
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext

from service.domain.i18n import t
from service.domain.languages import LANGUAGES

STAFF_LANGUAGES = LANGUAGES
PREFIX = "staff."


def field_label(language: str, field: str) -> str:
    """Name a form field on a staff page; a field without a label keeps its own name."""
    key = f"{PREFIX}field.{field}"
    found = t(language, key)
    return field if found == key else found


def words(language: str, key: str, **values: Any) -> str:
    """Return a staff page text in a language, outside a request's page (a flashed message)."""
    return t(language, PREFIX + key, **values)


def page_words(key: str, **values: Any) -> str:
    """Return a staff page text in the language of the page being answered."""
    text = str(gettext(PREFIX + key))
    return text.format(**values) if values else text

"""One person's record as an export: its keys in words for a person, or as CSV for a spreadsheet.

Kept apart from the register's export and from the rights that gather the record, so that
formatting a record depends on nothing but the words.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from service.domain.i18n import has, t

# A CSV export is for people, who open it in a spreadsheet: Excel reads UTF-8 (ä, ö) only after
# this mark. The register API's CSV stream, for programs, has none.
BOM = "\ufeff"


def _word(language: str | None, group: str, code: str) -> str:
    key = f"export.{group}.{code}"
    return t(language, key) if language is not None and has(key) else code


def _worded_item(item: Mapping[str, Any], language: str) -> dict[str, Any]:
    # Only the record's own keys: the inside of a form's fields or an audit detail is data.
    return {_word(language, "field", name): _worded_item(value, language)
            if name == "evidence" and isinstance(value, dict) else value
            for name, value in item.items()}


def worded_record(record: Mapping[str, Any], language: str) -> dict[str, Any]:
    """Return an export with its keys in words of language, for a person to read."""
    worded: dict[str, Any] = {}
    for section, value in record.items():
        name = _word(language, "section", section)
        if isinstance(value, dict):
            worded[name] = _worded_item(value, language)
        elif isinstance(value, list):
            worded[name] = [_worded_item(item, language) for item in value]
        else:
            worded[_word(language, "field", section)] = value
    return worded


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True) \
        if isinstance(value, dict | list) else str(value)
    # A spreadsheet must show a cell starting like a formula as text, never run it.
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


def record_as_csv(record: dict[str, Any], language: str | None = None) -> str:
    """Flatten an export to rows of section, item, field, value (nothing is left out).

    With a language it is for a person: the header, sections and fields are words in it, and
    it starts with a byte order mark for a spreadsheet to read it as UTF-8 (ä, ö). Without,
    it is the codes programs read, and no mark.
    """
    def section(code: str) -> str:
        return _word(language, "section", code)

    def field(code: str) -> str:
        return _word(language, "field", code)

    out = io.StringIO()
    if language is not None:
        out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_word(language, "column", c) for c in ("section", "item", "field", "value")])
    for name, value in record["contact"].items():
        writer.writerow([section("contact"), "", field(name), _cell(value)])
    for code in ("subscriptions", "consent_events", "corrections", "audit_entries"):
        for number, item in enumerate(record[code], start=1):
            for name, value in item.items():
                if name == "evidence" and isinstance(value, dict):
                    for key, inner in value.items():
                        # "Todiste: IP-osoite" for a person, "evidence.ip" for a program.
                        label = f"{field(name)}: {field(key)}" if language else f"evidence.{key}"
                        writer.writerow([section(code), number, label, _cell(inner)])
                else:
                    writer.writerow([section(code), number, field(name), _cell(value)])
    writer.writerow([section("export"), "", field("exported_at"),
                     record.get("exported_at", "")])
    return out.getvalue()

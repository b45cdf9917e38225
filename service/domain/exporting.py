"""Exports: `consent export` (the register as CSV or JSON, audited) and one person's record."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping
from typing import Any

from service.domain import audit, register
from service.domain.dependencies import Deps
from service.domain.i18n import has, t
from service.domain.ledger import Actor
from service.domain.models import ActorType
from service.domain.normalize import FieldProblem, InvalidInput
from service.domain.uow import UnitOfWork

CLI_ACTOR = Actor(ActorType.SYSTEM, "cli")
FORMATS = ("csv", "json")
# A CSV export is for people, who open it in a spreadsheet: Excel reads UTF-8 (ä, ö) only after
# this mark. The register API's CSV stream, for programs, has none.
BOM = "\ufeff"


def export_register(
    new_uow: Callable[[], UnitOfWork], deps: Deps, *, channel: str, fmt: str,
    write: Callable[[str], object], actor: Actor = CLI_ACTOR, destination: str = "stdout",
) -> int:
    """Write everyone on the register for the channel, batch by batch; log the export once.

    A CSV export starts with a byte order mark, so that a spreadsheet reads it as UTF-8.
    """
    if fmt not in FORMATS:
        raise InvalidInput([FieldProblem("format", "must be csv or json")])
    query = register.parse_query(channel, None, None)
    count = 0
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(register.CSV_FIELDS[query.channel])
        write(BOM + buffer.getvalue())
    else:
        write("[")
    for batch in register.stream_recipients(new_uow, deps, query):
        if fmt == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            writer.writerows(register.csv_row(r) for r in batch)
            write(buffer.getvalue())
        else:
            for item in batch:
                write(("," if count else "") + "\n  "
                      + json.dumps(register.as_record(item), ensure_ascii=False))
                count += 1
            continue
        count += len(batch)
    if fmt == "json":
        write("\n]\n" if count else "]\n")
    with new_uow() as uow:
        audit.append(uow.session, actor, "register.export",
                     detail={"channel": query.channel, "format": fmt, "rows": count,
                             "to": destination.replace("@", "_")[:200]},
                     now=deps.clock.now())
        uow.commit()
    return count


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

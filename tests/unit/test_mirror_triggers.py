"""The dirty-row triggers of migration 0005 note every change to what a mirror row shows.

The columns are derived from the code: which fields of a register entry `RowFormatter.row`
reads, which columns of the register's query fill those fields, and which columns decide
whether a contact is on the register at all. A column added to the row without a trigger on
it would leave the tab stale after incremental passes; this test then fails.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy.sql import visitors

from service.domain.dependencies import Practice
from service.domain.mirror.rows import RowFormatter
from service.domain.register import ChannelState, RegisterEntry, read_batch

MIGRATION = (Path(__file__).resolve().parents[2] / "service" / "migrations" / "versions"
             / "0005_mirror_dirty.py")


def trigger_columns() -> dict[str, set[str]]:
    """Return, per table, the columns whose updates migration 0005's triggers note."""
    spec = importlib.util.spec_from_file_location("mirror_dirty_migration", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {
        "contacts": {c.strip() for c in module.CONTACT_COLUMNS.split(",")},
        "subscriptions": {c.strip() for c in module.SUBSCRIPTION_COLUMNS.split(",")},
    }


class Reading:
    """A stand-in for an entry (or a channel's state) that notes every field read from it."""

    def __init__(self, target: Any, prefix: str, seen: set[str]) -> None:
        self._target, self._prefix, self._seen = target, prefix, seen

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(type(self._target), name, None)
        if isinstance(attribute, property):
            return attribute.fget(self) if attribute.fget else None
        if callable(attribute):
            return functools.partial(attribute, self)  # methods read fields through us too
        self._seen.add(self._prefix + name)
        value = getattr(self._target, name)
        if isinstance(value, ChannelState):
            return Reading(value, f"{name}.", self._seen)
        return value


def fields_the_row_reads() -> set[str]:
    """Return the entry fields RowFormatter.row reads, with both channels and SMS alone."""
    practice = Practice(organization="Klinikka", public_url="https://example.fi",
                        mail_from="a@example.fi", privacy_url=None, unsubscribe_mailto=None,
                        double_opt_in=True, default_language="fi")
    when = datetime(2026, 12, 1, tzinfo=UTC)
    yes = ChannelState("subscribed", when, "web_form", "staff", 1)
    no = ChannelState("unsubscribed", when, "web_form", None, 1)
    seen: set[str] = set()
    for email_consent in (yes, no):
        entry = RegisterEntry(id=1, public_id="k", name="N", email="a@example.fi",
                              phone="+358401234567", language="fi", email_deliverable=True,
                              email_consent=email_consent, sms_consent=yes)
        formatter = RowFormatter(SimpleNamespace(practice=practice), {"k": "link"})  # type: ignore[arg-type]
        formatter.row(Reading(entry, "", seen))  # type: ignore[arg-type]
    return seen


def flattened(entry: RegisterEntry) -> dict[str, Any]:
    """Return an entry's fields, a channel's state as one field per part."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(entry):
        value = getattr(entry, f.name)
        if isinstance(value, ChannelState):
            out.update({f"{f.name}.{g.name}": getattr(value, g.name)
                        for g in dataclasses.fields(value)})
        else:
            out[f.name] = value
    return out


class OneRowSession:
    """A session that keeps the statement it is given and answers one row of given values."""

    def __init__(self, values: list[Any]) -> None:
        self.values, self.statement = values, None

    def execute(self, statement: Any) -> list[list[Any]]:
        self.statement = statement
        return [self.values]


def table_of(column: Any) -> str:
    """Return the table a column belongs to, through an alias."""
    table = column.table
    return str(getattr(table, "element", table).name)


def columns_the_register_shows() -> set[tuple[str, str]]:
    """Return the (table, column) pairs that can change a mirror row, or whether it is there."""
    probe = OneRowSession([object() for _ in range(64)])  # more values than any query selects
    read_batch(probe, limit=1)  # type: ignore[arg-type]
    query: Any = probe.statement
    selected = list(query.selected_columns)
    base = [object() for _ in selected]
    baseline = flattened(read_batch(OneRowSession(base), limit=1)[0])  # type: ignore[arg-type]
    read = fields_the_row_reads()
    shown: set[tuple[str, str]] = set()
    for i, column in enumerate(selected):
        for replacement in (object(), None):
            values = [*base[:i], replacement, *base[i + 1:]]
            entry = flattened(read_batch(OneRowSession(values), limit=1)[0])  # type: ignore[arg-type]
            moved = {name for name in entry if entry[name] is not baseline[name]
                     and entry[name] != baseline[name]}
            if moved:
                if moved & read:
                    shown.add((table_of(column), column.name))
                break
    # Columns that decide who is on the register (joins and filters) change a row's presence.
    conditions = [query.whereclause]
    joins = list(query.get_final_froms())
    while joins:
        join = joins.pop()
        if getattr(join, "onclause", None) is not None:
            conditions.append(join.onclause)
            joins += [join.left, join.right]
    for condition in conditions:
        for element in visitors.iterate(condition):
            if getattr(element, "table", None) is not None and hasattr(element, "name"):
                shown.add((table_of(element), element.name))
    return shown


def test_dirty_row_triggers_cover_every_column_a_mirror_row_shows() -> None:
    triggers = trigger_columns()
    shown = columns_the_register_shows()
    primary_keys = {("contacts", "id")}  # never updated; a deleted contact is noted
    missing = sorted(f"{table}.{column}" for table, column in shown - primary_keys
                     if column not in triggers.get(table, set()))
    assert {table for table, _ in shown} == {"contacts", "subscriptions"}
    assert not missing, f"migration 0005's triggers miss columns the mirror shows: {missing}"

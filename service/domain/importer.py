"""Import an existing register (the practice's old Sheet) from CSV, row by row, with reasons.

An import only ever adds consent: it never resubscribes an address that withdrew, and never
brings back an address erased on request.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from service.domain import audit, ledger
from service.domain.channels import Channel
from service.domain.dependencies import Deps
from service.domain.ledger import Actor, EvidenceData
from service.domain.models import ActorType, EventKind, Method, SubscriptionState
from service.domain.normalize import InvalidInput, parse_email, parse_name, parse_phone
from service.domain.rights import is_erased
from service.domain.uow import UnitOfWork

IMPORT_ACTOR = Actor(ActorType.SYSTEM, "import")
# Header names a practice's Sheet may use, in Finnish, Swedish or English (lower-cased).
COLUMNS: dict[str, tuple[str, ...]] = {
    "email": ("email", "e-mail", "sähköposti", "sahkoposti", "e-post", "epost", "email address"),
    "name": ("name", "nimi", "namn", "full name"),
    "phone": ("phone", "puhelin", "puhelinnumero", "telefon", "mobile", "matkapuhelin"),
    "consented_at": ("consent date", "consent_date", "consented_at", "consented", "date",
                     "päivämäärä", "paivamaara", "lupa annettu", "datum", "suostumus"),
    "source": ("source", "lähde", "lahde", "källa"),
}


class ImportFileError(Exception):
    """The file as a whole cannot be read (no email column, not CSV)."""


@dataclass(frozen=True)
class ImportRow:
    """One data row of the file, by line number, with the mapped columns."""

    line: int
    values: dict[str, str]


@dataclass
class ImportReport:
    """What an import did (or, dry, would do)."""

    imported: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    dry_run: bool = False


def read_rows(text: str) -> tuple[dict[str, str], list[ImportRow]]:
    """Map the header to known columns and return the rows; ';' and ',' both work."""
    text = text.lstrip("\ufeff")
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("the file is empty") from None
    mapping: dict[str, str] = {}
    positions: dict[str, int] = {}
    for index, raw in enumerate(header):
        name = " ".join(raw.strip().lower().split())
        for column, aliases in COLUMNS.items():
            if name in aliases and column not in positions:
                positions[column] = index
                mapping[column] = raw.strip()
    if "email" not in positions:
        raise ImportFileError(
            "no email column: name it email (or sähköposti); other known columns are "
            "name, phone, consent date, source")
    rows = []
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        rows.append(ImportRow(number, {
            column: cells[i].strip() if i < len(cells) else "" for column, i in positions.items()
        }))
    return mapping, rows


def parse_consent_date(raw: str) -> date | None:
    """Read 2024-05-31, 31.5.2024 or 31/5/2024 (an ISO timestamp too); empty is unknown."""
    value = raw.strip()
    if not value:
        return None
    for candidate in (value, value[:10]):
        try:
            return date.fromisoformat(candidate)
        except ValueError:
            pass
    for separator in (".", "/"):
        parts = value.split(" ")[0].split(separator)
        if len(parts) == 3 and all(p.isascii() and p.isdigit() for p in parts):
            day, month, year = (int(p) for p in parts)
            try:
                return date(year, month, day)
            except ValueError:
                break
    raise ValueError("consent date must look like 2024-05-31 or 31.5.2024")


def import_rows(
    uow: UnitOfWork, deps: Deps, rows: list[ImportRow], *, notice_version: int,
    file_name: str, dry_run: bool = False, progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Grant email consent for each acceptable row in one transaction (rolled back when dry)."""
    report = ImportReport(dry_run=dry_run)
    now = deps.clock.now()
    language = deps.practice.default_language
    seen: dict[str, int] = {}
    with uow:
        session = uow.session
        notice = ledger.resolve_notice(session, notice_version, language)
        for row in rows:
            reason = _import_one(session, row, seen, report, notice, file_name, now)
            if reason is not None:
                report.rejected.append((row.line, reason))
            if progress is not None:
                progress(1)
        if not dry_run:
            audit.append(session, IMPORT_ACTOR, "import", detail={
                "imported": report.imported, "skipped": len(report.skipped),
                "rejected": len(report.rejected), "notice": notice_version}, now=now)
            uow.commit()
    return report


def _import_one(session: Session, row: ImportRow, seen: dict[str, int], report: ImportReport,
                notice: ledger.NoticeRef, file_name: str, now: datetime) -> str | None:
    """Import one row; return why it is rejected, or None."""
    values = row.values
    try:
        address = parse_email(values.get("email", ""))
        name = parse_name(values.get("name", ""))
        phone = parse_phone(values["phone"]) if values.get("phone") else None
    except InvalidInput as exc:
        return "; ".join(f"{p.field} {p.problem}" for p in exc.problems)
    try:
        consented = parse_consent_date(values.get("consented_at", ""))
    except ValueError as exc:
        return str(exc)
    if consented is not None and consented > now.astimezone(UTC).date():
        return "consent date is in the future"
    if address.key in seen:
        return f"the same address as line {seen[address.key]}"
    seen[address.key] = row.line
    if is_erased(session, address.key):
        return "this address was erased on request: it needs fresh consent, never an import"
    existing = ledger.find_contact_by_email(session, address.key, lock=True)
    if existing is not None:
        sub = ledger.subscription(session, existing, Channel.EMAIL.value, lock=True)
        if sub is not None and sub.state == SubscriptionState.UNSUBSCRIBED.value:
            return (f"withdrew consent on {sub.since.date().isoformat()}: an import never "
                    "subscribes anyone again")
        if sub is not None and sub.state == SubscriptionState.SUBSCRIBED.value:
            report.skipped.append((row.line, "already on the register"))
            return None
    # A known contact only has its missing name and phone filled in.
    contact, _created = ledger.upsert_contact(
        session, address, name=name, phone=phone, language=notice.language, now=now)
    ledger.record(
        session, contact, Channel.EMAIL.value, EventKind.GRANTED, Method.IMPORT, IMPORT_ACTOR,
        now=now, notice=notice, source="import",
        evidence=EvidenceData(
            fields={**values, "consented_at": consented.isoformat() if consented else None},
            note=f"imported from {file_name} line {row.line}"
                 + ("" if consented else "; the file gave no consent date"),
        ),
    )
    report.imported += 1
    return None


def iter_lines(report: ImportReport) -> Iterator[str]:
    """Yield the report's skipped and rejected rows as lines for people to read."""
    for line, reason in report.skipped:
        yield f"line {line}: skipped: {reason}"
    for line, reason in report.rejected:
        yield f"line {line}: rejected: {reason}"

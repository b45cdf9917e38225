"""Exports: `consent export` (the register as CSV or JSON, audited) and one person's record."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

from service.domain import audit, register
from service.domain.dependencies import Deps
from service.domain.ledger import Actor
from service.domain.models import ActorType
from service.domain.normalize import FieldProblem, InvalidInput
from service.domain.personal_record import BOM
from service.domain.uow import UnitOfWork

CLI_ACTOR = Actor(ActorType.SYSTEM, "cli")
FORMATS = ("csv", "json")


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

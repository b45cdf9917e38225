"""Where signed checkpoints of the ledger are kept outside the database.

With Google credentials: a "checkpoints" tab of the practice's Sheet, one row per checkpoint,
protected so that only the service account (and the Sheet's owner) can edit it; Google keeps
every version of the tab, so even they cannot change a row without it showing. Without them:
a JSON-lines file beside the local mirror, to be copied off the server (or mailed, see
CONSENT_CHECKPOINT_MAILTO).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mirrors.sheets import GoogleSheetsMirror
from mirrors.sheets_client import SheetsHTTPClient
from mirrors.sheets_plans import quote_title
from service.domain.chain import Checkpoint, iso
from service.domain.ports import CheckpointCopies, MirrorMisconfigured, MirrorUnavailable

CHECKPOINT_TAB = "checkpoints"
HEADER = ("made at (UTC)", "events position", "events hash", "audit position", "audit hash",
          "key id", "public key", "signature")
PROTECTION_DESCRIPTION = (
    "consent-register: signed checkpoints of the ledger; rows are only ever added"
)
TAB_FIELDS = "sheets(properties(sheetId,title),protectedRanges)"


def checkpoint_row(checkpoint: Checkpoint) -> list[str]:
    """Return a checkpoint as a row of the tab (all text)."""
    return [iso(checkpoint.made_at), str(checkpoint.events_position), checkpoint.events_hash,
            str(checkpoint.audit_position), checkpoint.audit_hash, checkpoint.key_id,
            checkpoint.public_key, checkpoint.signature]


def row_checkpoint(row: Sequence[str]) -> Checkpoint:
    """Read a row of the tab; raise ValueError saying what is wrong with it."""
    cells = [str(v) for v in row] + [""] * (len(HEADER) - len(row))
    return Checkpoint.parse(*cells[: len(HEADER)])


def _protection(sheet_id: int, service_account: str) -> dict[str, Any]:
    return {"range": {"sheetId": sheet_id}, "description": PROTECTION_DESCRIPTION,
            "warningOnly": False, "editors": {"users": [service_account]}}


class SheetsCheckpointTab:
    """The checkpoints tab of the practice's Google Sheet, written by the mirror's account."""

    def __init__(self, sheets: GoogleSheetsMirror, title: str = CHECKPOINT_TAB) -> None:
        """Share the mirror's credentials, HTTP client and retry policy."""
        self._sheets = sheets
        self.title = title
        self.where = f"the tab {title!r} of spreadsheet {sheets.spreadsheet_id}"

    def _tab(self, http: SheetsHTTPClient) -> tuple[Mapping[str, Any] | None, set[int]]:
        """Return the tab's metadata (None when there is none) and every tab's id."""
        metadata = http.fetch_sheet_metadata(
            self._sheets.spreadsheet_id, params={"includeGridData": "false", "fields": TAB_FIELDS})
        sheets = list(metadata.get("sheets", []))
        taken = {int(s.get("properties", {}).get("sheetId", 0)) for s in sheets}
        for sheet in sheets:
            if sheet.get("properties", {}).get("title") == self.title:
                return dict(sheet), taken
        return None, taken

    def _rows(self, http: SheetsHTTPClient) -> list[list[str]]:
        answer = http.values_get(
            self._sheets.spreadsheet_id, quote_title(self.title),
            params={"valueRenderOption": "FORMATTED_VALUE", "majorDimension": "ROWS"})
        return [[str(v) for v in row] for row in answer.get("values", [])]

    def _create(self, http: SheetsHTTPClient, taken: set[int]) -> None:
        sheet_id = 0
        while sheet_id == 0 or sheet_id in taken:
            sheet_id = 1 + secrets.randbelow(2**31 - 2)
        account = self._sheets.service_account_email
        http.batch_update(self._sheets.spreadsheet_id, {"requests": [
            {"addSheet": {"properties": {
                "sheetId": sheet_id, "title": self.title,
                "gridProperties": {"rowCount": 100, "columnCount": len(HEADER),
                                   "frozenRowCount": 1}}}},
            {"addProtectedRange": {"protectedRange": _protection(sheet_id, account)}},
        ]})

    def _keep_protected(self, http: SheetsHTTPClient, tab: Mapping[str, Any]) -> None:
        """Put the protection back if someone removed or weakened it."""
        sheet_id = int(tab.get("properties", {}).get("sheetId", 0))
        ours = [p for p in tab.get("protectedRanges", [])
                if p.get("description") == PROTECTION_DESCRIPTION]
        if any(not p.get("warningOnly") and set(p.get("range", {})) <= {"sheetId"}
               for p in ours):
            return
        requests: list[dict[str, Any]] = [
            {"deleteProtectedRange": {"protectedRangeId": p["protectedRangeId"]}}
            for p in ours if "protectedRangeId" in p]
        requests.append({"addProtectedRange": {
            "protectedRange": _protection(sheet_id, self._sheets.service_account_email)}})
        http.batch_update(self._sheets.spreadsheet_id, {"requests": requests})

    def append(self, checkpoint: Checkpoint) -> None:
        """Add the checkpoint's row (the tab and its protection first when missing)."""
        http = self._sheets.api()
        with self._sheets.explained_failures():
            tab, taken = self._tab(http)
            if tab is None:
                self._create(http, taken)
                rows: list[list[str]] = []
            else:
                self._keep_protected(http, tab)
                rows = self._rows(http)
            if any(len(row) >= len(HEADER) and row[len(HEADER) - 1] == checkpoint.signature
                   for row in rows):
                return  # written by an earlier attempt whose answer was lost
            new = ([list(HEADER)] if not rows else []) + [checkpoint_row(checkpoint)]
            http.values_append(
                self._sheets.spreadsheet_id,
                f"{quote_title(self.title)}!A1:{chr(ord('A') + len(HEADER) - 1)}1",
                params={"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"},
                body={"values": new})

    def read(self) -> CheckpointCopies:
        """Return the checkpoints in the tab (none when there is no tab yet)."""
        http = self._sheets.api()
        with self._sheets.explained_failures():
            if self._tab(http)[0] is None:
                return CheckpointCopies([], [])
            rows = self._rows(http)
        found: list[Checkpoint] = []
        unreadable: list[str] = []
        for number, row in enumerate(rows[1:], start=2):
            if not any(cell.strip() for cell in row):
                continue
            try:
                found.append(row_checkpoint(row))
            except ValueError as exc:
                unreadable.append(f"row {number}: {exc}")
        return CheckpointCopies(found, unreadable)


class FileCheckpointLog:
    """Checkpoints as JSON lines in a file beside the local mirror."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Remember the file."""
        self.path = Path(path)
        self.where = f"the file {self.path}"

    def append(self, checkpoint: Checkpoint) -> None:
        """Add the checkpoint as one line, flushed to disk (once, however often asked)."""
        if any(c.signature == checkpoint.signature for c in self.read().found):
            return
        line = json.dumps(checkpoint.as_json(), sort_keys=True) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        except PermissionError as err:
            raise MirrorMisconfigured(
                f"cannot write the checkpoint file {self.path}: {err.strerror}; check "
                "CONSENT_DATA_DIR and its permissions") from None
        except OSError as err:
            raise MirrorUnavailable(
                f"cannot write the checkpoint file {self.path}: {err.strerror}") from None

    def read(self) -> CheckpointCopies:
        """Return the checkpoints in the file (none when there is no file yet)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return CheckpointCopies([], [])
        except (OSError, UnicodeDecodeError) as err:
            return CheckpointCopies([], [f"{self.path} cannot be read ({type(err).__name__})"])
        found: list[Checkpoint] = []
        unreadable: list[str] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                found.append(Checkpoint.from_json(json.loads(line)))
            except ValueError as exc:
                unreadable.append(f"line {number}: {exc}")
        return CheckpointCopies(found, unreadable)

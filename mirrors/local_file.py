"""Mirror the register into a local .xlsx file when no Google credentials are configured."""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from mirrors.diff import Grid, compare, digest_grid, digest_wanted, wanted_grid
from service.domain.ports import MirrorMisconfigured, MirrorReport, MirrorUnavailable

DEFAULT_TITLE = "Markkinointirekisteri"
# Text starting with these is a formula (or becomes one when edited) in Excel and LibreOffice.
FORMULA_TRIGGERS = ("=", "+", "-", "@")
_SHEET_TITLE_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})


def _cell_text(value: str) -> str:
    """Drop control characters that an .xlsx file cannot hold (openpyxl would refuse the row)."""
    return str(ILLEGAL_CHARACTERS_RE.sub("", value))


def sheet_title(title: str) -> str:
    """Return a title Excel accepts: at most 31 characters, none of []:*?/\\."""
    return (title.translate(_SHEET_TITLE_FORBIDDEN).strip("'") or DEFAULT_TITLE)[:31]


class LocalFileMirror:
    """The register as a spreadsheet file in the data directory, replaced atomically."""

    def __init__(self, path: str | os.PathLike[str], *, title: str = DEFAULT_TITLE) -> None:
        self.path = Path(path)
        self.title = sheet_title(title)

    def read(self) -> Grid:
        """Return the file's cells as text (empty when there is no readable file)."""
        if not self.path.exists():
            return []
        try:
            workbook = load_workbook(self.path, read_only=True, data_only=False)
        except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError):
            return []  # a damaged mirror is rewritten from the register
        try:
            sheet = workbook[self.title] if self.title in workbook.sheetnames else None
            if sheet is None:
                return []
            return [
                ["" if v is None else str(v) for v in row]
                for row in sheet.iter_rows(values_only=True)
            ]
        finally:
            workbook.close()

    def apply(
        self, header: Sequence[str], rows: Iterable[Sequence[str]], *, check_only: bool = False
    ) -> MirrorReport:
        """Make the file show exactly header and rows (or only compare when check_only).

        The register is held whole here: openpyxl builds the whole workbook in memory anyway,
        and the local file is for small practices without a Google account.
        """
        wanted = [[_cell_text(v) for v in row] for row in wanted_grid(header, rows)]
        register = digest_wanted(wanted[0], wanted[1:])
        comparison = compare(register, digest_grid(self.read(), register))
        report = MirrorReport(
            added=comparison.added,
            changed=comparison.changed,
            removed=comparison.removed,
            repaired_layout=comparison.header_differs or comparison.arrangement_differs,
        )
        if not comparison.identical and not check_only:
            self._write(wanted)
        return report

    def _write(self, grid: Grid) -> None:
        workbook = Workbook()
        sheet = workbook.active
        assert sheet is not None
        sheet.title = self.title
        bold = Font(bold=True)
        widths = [0] * len(grid[0])
        for r, row in enumerate(grid, start=1):
            for c, value in enumerate(row, start=1):
                if value == "":
                    continue
                cell = sheet.cell(row=r, column=c)
                cell.value = value
                # openpyxl takes "=..." for a formula; the register holds text only.
                cell.data_type = "s"
                if value.startswith(FORMULA_TRIGGERS):
                    cell.quotePrefix = True  # stays text even when someone edits the cell
                if r == 1:
                    cell.font = bold
                widths[c - 1] = max(widths[c - 1], len(value))
        for c, width in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(c)].width = min(60, max(10, width + 2))
        sheet.freeze_panes = "A2"

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # mkstemp makes the file readable by its owner only: it holds personal data.
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
            )
        except PermissionError as err:
            raise MirrorMisconfigured(
                f"cannot write the mirror file in {self.path.parent}: {err.strerror}; "
                "check CONSENT_DATA_DIR and its permissions"
            ) from None
        except OSError as err:
            raise MirrorUnavailable(
                f"cannot write the mirror file in {self.path.parent}: {err.strerror}"
            ) from None
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                workbook.save(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except PermissionError as err:
            raise MirrorMisconfigured(
                f"cannot replace the mirror file {self.path}: {err.strerror}; check its permissions"
            ) from None
        except OSError as err:
            raise MirrorUnavailable(
                f"cannot write the mirror file {self.path}: {err.strerror}"
            ) from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

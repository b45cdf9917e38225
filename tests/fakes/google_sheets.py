"""A fake of Google's Sheets API v4 and OAuth2 token endpoint that real gspread and google-auth use.

The fake serves HTTP on 127.0.0.1 on a random port. It keeps spreadsheets in memory, checks
bearer tokens it issued itself, counts per-minute read and write quotas on an injectable clock,
applies batch requests all or nothing, answers with Google's error envelope, and can be told to
fail (503, 429, dropped connections, slow answers). Tests reach the tabs directly to hand-edit,
sort, delete rows or tabs, and read every request from its log.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_SERVICE_ACCOUNT = "register-mirror@consent-test.iam.gserviceaccount.com"
DEFAULT_OWNER = "owner@practice.example"
PROTECTED_CELL_MESSAGE = (
    "You are trying to edit a protected cell or object. Please contact the spreadsheet owner "
    "to remove protection if you need to edit."
)


@dataclass(frozen=True)
class Formula:
    """A cell holding a formula (what USER_ENTERED makes of text starting with "=")."""

    text: str


Cell = str | int | float | bool | Formula | None


class ApiError(Exception):
    """An error the fake answers in Google's envelope."""

    def __init__(self, code: int, status: str, message: str, details: list[Any] | None = None):
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        """Return Google's error envelope."""
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def _invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


# ---------------------------------------------------------------------------------------------
# A1 notation


def column_letters(index: int) -> str:
    """Return the column letters of a zero-based column index (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters


def column_index(letters: str) -> int:
    """Return the zero-based column index of column letters."""
    index = 0
    for ch in letters.upper():
        index = index * 26 + (ord(ch) - ord("A") + 1)
    return index - 1


def quote_title(title: str) -> str:
    """Quote a sheet title for A1 notation as Google does."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", title) and not re.fullmatch(
        r"[A-Za-z]{1,3}[0-9]+", title
    ):
        return title
    return "'" + title.replace("'", "''") + "'"


@dataclass(frozen=True)
class GridRange:
    """Zero-based, end-exclusive cell bounds; None means up to the grid's edge."""

    start_row: int = 0
    end_row: int | None = None
    start_col: int = 0
    end_col: int | None = None


_CELL_REF = re.compile(r"^([A-Za-z]{0,3})([0-9]*)$")
_RANGE_LIKE = re.compile(r"^[A-Za-z]{0,3}[0-9]*(:[A-Za-z]{0,3}[0-9]*)?$")


def split_a1(a1: str) -> tuple[str | None, str | None]:
    """Split an A1 range into its sheet title (None: the first sheet) and cell part."""
    if a1.startswith("'"):
        title: list[str] = []
        i = 1
        while i < len(a1):
            ch = a1[i]
            if ch == "'":
                if i + 1 < len(a1) and a1[i + 1] == "'":
                    title.append("'")
                    i += 2
                    continue
                break
            title.append(ch)
            i += 1
        else:
            raise _invalid(f"Unable to parse range: {a1}")
        rest = a1[i + 1 :]
        if not rest:
            return "".join(title), None
        if not rest.startswith("!"):
            raise _invalid(f"Unable to parse range: {a1}")
        return "".join(title), rest[1:]
    if "!" in a1:
        title_part, cells = a1.split("!", 1)
        return title_part, cells
    if _RANGE_LIKE.match(a1) and (":" in a1 or re.search(r"[0-9]", a1)):
        return None, a1
    return a1, None


def parse_cells(part: str | None, a1: str) -> GridRange:
    """Parse the cell part of an A1 range ("A1:C10", "A:C", "2:5", "B3")."""
    if part is None or part == "":
        return GridRange()
    pieces = part.split(":")
    if len(pieces) > 2:
        raise _invalid(f"Unable to parse range: {a1}")
    refs = []
    for piece in pieces:
        match = _CELL_REF.match(piece)
        if not match or not (match.group(1) or match.group(2)):
            raise _invalid(f"Unable to parse range: {a1}")
        letters, digits = match.groups()
        col = column_index(letters) if letters else None
        row = int(digits) - 1 if digits else None
        if row is not None and row < 0:
            raise _invalid(f"Unable to parse range: {a1}")
        refs.append((row, col))
    (r0, c0) = refs[0]
    if len(refs) == 1:
        if r0 is None or c0 is None:
            raise _invalid(f"Unable to parse range: {a1}")
        return GridRange(r0, r0 + 1, c0, c0 + 1)
    (r1, c1) = refs[1]
    return GridRange(
        start_row=r0 or 0,
        end_row=None if r1 is None else r1 + 1,
        start_col=c0 or 0,
        end_col=None if c1 is None else c1 + 1,
    )


def format_a1(title: str, start_row: int, end_row: int, start_col: int, end_col: int) -> str:
    """Format zero-based end-exclusive bounds as an A1 range on a sheet."""
    first = f"{column_letters(start_col)}{start_row + 1}"
    last = f"{column_letters(end_col - 1)}{end_row}"
    cells = first if (end_row - start_row, end_col - start_col) == (1, 1) else f"{first}:{last}"
    return f"{quote_title(title)}!{cells}"


# ---------------------------------------------------------------------------------------------
# The spreadsheet model


@dataclass
class Sheet:
    """One tab: its properties, cells and protected ranges."""

    sheet_id: int
    title: str
    index: int
    row_count: int = 1000
    column_count: int = 26
    frozen_row_count: int = 0
    frozen_column_count: int = 0
    hidden: bool = False
    cells: list[list[Cell]] = field(default_factory=list)
    protected_ranges: list[dict[str, Any]] = field(default_factory=list)

    def get(self, row: int, col: int) -> Cell:
        """Return one cell's stored value."""
        if row < len(self.cells) and col < len(self.cells[row]):
            return self.cells[row][col]
        return None

    def put(self, row: int, col: int, value: Cell) -> None:
        """Store one cell's value."""
        while len(self.cells) <= row:
            self.cells.append([])
        line = self.cells[row]
        while len(line) <= col:
            line.append(None)
        line[col] = value

    def truncate(self) -> None:
        """Drop cells outside the grid (after the grid shrank)."""
        del self.cells[self.row_count :]
        for line in self.cells:
            del line[self.column_count :]

    def properties(self) -> dict[str, Any]:
        """Return the sheet's properties as the API shows them (zero values omitted)."""
        grid: dict[str, Any] = {"rowCount": self.row_count, "columnCount": self.column_count}
        if self.frozen_row_count:
            grid["frozenRowCount"] = self.frozen_row_count
        if self.frozen_column_count:
            grid["frozenColumnCount"] = self.frozen_column_count
        props: dict[str, Any] = {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": self.index,
            "sheetType": "GRID",
            "gridProperties": grid,
        }
        if self.hidden:
            props["hidden"] = True
        return props


@dataclass
class Spreadsheet:
    """One spreadsheet with its sharing and tabs."""

    spreadsheet_id: str
    title: str
    owner: str
    roles: dict[str, str]
    sheets: list[Sheet]
    next_protected_range_id: int = 1000

    def sheet_by_title(self, title: str) -> Sheet | None:
        """Return the tab with this title, if any."""
        return next((s for s in self.sheets if s.title == title), None)

    def sheet_by_id(self, sheet_id: int) -> Sheet:
        """Return the tab with this id or raise Google's error."""
        found = next((s for s in self.sheets if s.sheet_id == sheet_id), None)
        if found is None:
            raise _invalid(f"No grid with id: {sheet_id}")
        return found

    def reindex(self) -> None:
        """Number the tabs in order."""
        for i, sheet in enumerate(self.sheets):
            sheet.index = i


def _render(value: Cell, option: str) -> Any:
    """Render a stored cell per valueRenderOption."""
    if isinstance(value, Formula):
        # The fake evaluates nothing; Google shows an error value for a failed formula.
        return value.text if option == "FORMULA" else "#N/A"
    if isinstance(value, bool):
        return value if option != "FORMATTED_VALUE" else ("TRUE" if value else "FALSE")
    if isinstance(value, int | float):
        if option != "FORMATTED_VALUE":
            return value
        return str(int(value)) if float(value).is_integer() else str(value)
    return value


def _parse_input(value: Any, option: str) -> Cell:
    """Turn one written JSON value into a stored cell per valueInputOption."""
    if value is None or value == "":
        return None
    if option == "RAW" or not isinstance(value, str):
        if isinstance(value, dict | list):
            raise _invalid("Invalid values: nested values are not allowed")
        return value  # type: ignore[no-any-return]
    if value.startswith("="):
        return Formula(value)
    text = value.strip()
    if re.fullmatch(r"[+-]?[0-9]+", text):
        return int(text)
    if re.fullmatch(r"[+-]?[0-9]*\.[0-9]+", text):
        return float(text)
    if text.upper() in ("TRUE", "FALSE"):
        return text.upper() == "TRUE"
    return value


def _trimmed(rows: list[list[Any]]) -> list[list[Any]]:
    """Drop trailing empty cells and rows, as the API does."""
    out = []
    for row in rows:
        end = len(row)
        while end and (row[end - 1] is None or row[end - 1] == ""):
            end -= 1
        out.append(["" if v is None else v for v in row[:end]])
    while out and not out[-1]:
        out.pop()
    return out


# ---------------------------------------------------------------------------------------------
# Faults, log, accounts


@dataclass
class Fault:
    """An injected failure for requests that match it."""

    status: int = 503
    mode: str = "status"  # "status": an error; "drop": close the connection; "slow"; "hold"
    remaining: int | None = 1  # None: until heal()
    match: str | None = None  # substring of the request path
    method: str | None = None
    delay: float = 0.0
    retry_after: str | None = None
    apply_first: bool = False  # do the request, then answer the error anyway
    include_token: bool = False
    # "hold": keep the request waiting (as a process that dies mid-request would leave it),
    # then drop it unapplied once released or after `delay` seconds.
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def matches(self, method: str, path: str) -> bool:
        """Tell whether this fault applies to the request."""
        if path == "/token" and not self.include_token:
            return False
        if self.method and self.method != method:
            return False
        return self.match is None or self.match in unquote(path)


@dataclass(frozen=True)
class LoggedRequest:
    """One request the fake received."""

    method: str
    path: str
    query: str
    body_size: int
    status: int  # 0: the connection was dropped
    kind: str  # "read", "write" or "token"
    account: str | None
    response_size: int = 0

    @property
    def is_metadata(self) -> bool:
        """Tell whether this was a spreadsheet metadata GET."""
        return (
            self.kind == "read" and re.fullmatch(r"/v4/spreadsheets/[^/:]+", self.path) is not None
        )

    @property
    def decoded_path(self) -> str:
        """Return the path with percent-escapes decoded."""
        return unquote(self.path)


@dataclass
class _Account:
    email: str
    public_key: rsa.RSAPublicKey


_KEYS: dict[str, rsa.RSAPrivateKey] = {}


def _private_key(email: str) -> rsa.RSAPrivateKey:
    """Return an RSA key for an account, made once per process (making one takes a while)."""
    if email not in _KEYS:
        _KEYS[email] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _KEYS[email]


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _quota_body(kind: str, limit: int) -> list[dict[str, Any]]:
    metric = "write_requests" if kind == "write" else "read_requests"
    limit_name = (
        "WriteRequestsPerMinutePerUser" if kind == "write" else "ReadRequestsPerMinutePerUser"
    )
    return [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "RATE_LIMIT_EXCEEDED",
            "domain": "googleapis.com",
            "metadata": {
                "quota_metric": f"sheets.googleapis.com/{metric}",
                "quota_limit": limit_name,
                "quota_limit_value": str(limit),
                "quota_location": "global",
                "service": "sheets.googleapis.com",
                "consumer": "projects/123456789012",
            },
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [
                {
                    "description": "Request a higher quota limit.",
                    "url": "https://cloud.google.com/docs/quotas/help/request_increase",
                }
            ],
        },
    ]


def quota_error(kind: str, limit: int) -> ApiError:
    """Return Google's 429 for an exhausted per-minute quota."""
    label = "Write" if kind == "write" else "Read"
    return ApiError(
        429,
        "RESOURCE_EXHAUSTED",
        f"Quota exceeded for quota metric '{label} requests' and limit "
        f"'{label} requests per minute per user' of service 'sheets.googleapis.com' "
        "for consumer 'project_number:123456789012'.",
        _quota_body(kind, limit),
    )


_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_STATUS_MESSAGES = {
    500: "Internal error encountered.",
    502: "Bad Gateway",
    503: "The service is currently unavailable.",
    504: "The request timed out. Please try again.",
}


# ---------------------------------------------------------------------------------------------
# The server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not hold up stop()
    fake: FakeGoogleSheets

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client hangs up first (timeouts are part of the tests)."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 5  # idle keep-alive connections end on their own
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart
    wbufsize = 1 << 16

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""

    def do_GET(self) -> None:
        self.server.fake._handle(self)

    def do_POST(self) -> None:
        self.server.fake._handle(self)

    def do_PUT(self) -> None:
        self.server.fake._handle(self)

    def do_DELETE(self) -> None:
        self.server.fake._handle(self)


class FakeGoogleSheets:
    """The Sheets API v4 and Google's token endpoint, in memory, over HTTP on 127.0.0.1."""

    def __init__(
        self,
        *,
        read_quota: int = 60,
        write_quota: int = 60,
        clock: Callable[[], float] = time.monotonic,
        owner: str = DEFAULT_OWNER,
    ) -> None:
        self.read_quota = read_quota
        self.write_quota = write_quota
        self.clock = clock
        self.owner = owner
        self.refuse_tokens = False
        # Called with the request path after each write the fake applied (benchmarks time it).
        self.after_write: Callable[[str], None] | None = None
        self.requests: list[LoggedRequest] = []
        self._lock = threading.RLock()
        self._spreadsheets: dict[str, Spreadsheet] = {}
        self._accounts: dict[str, _Account] = {}
        self._tokens: dict[str, str] = {}
        self._faults: list[Fault] = []
        self._quota_used: dict[tuple[str, str, int], int] = {}
        self._next_sheet_id = 100
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeGoogleSheets:
        """Serve on a random port of 127.0.0.1 in a background thread."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeGoogleSheets:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Return the base URL that stands in for https://sheets.googleapis.com."""
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def token_uri(self) -> str:
        """Return the token endpoint's URL."""
        return self.url + "/token"

    # -- accounts and tokens -------------------------------------------------------------------

    def new_service_account(self, email: str = DEFAULT_SERVICE_ACCOUNT) -> dict[str, str]:
        """Make a throwaway service-account key whose token_uri points at the fake."""
        key = _private_key(email)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        with self._lock:
            self._accounts[email] = _Account(email, key.public_key())
        project = email.split("@", 1)[1].split(".", 1)[0] if "@" in email else "consent-test"
        return {
            "type": "service_account",
            "project_id": project,
            "private_key_id": secrets.token_hex(20),
            "private_key": pem,
            "client_email": email,
            "client_id": str(secrets.randbelow(10**20)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
            + email.replace("@", "%40"),
            "universe_domain": "googleapis.com",
        }

    def write_credentials_file(self, path: Path, email: str = DEFAULT_SERVICE_ACCOUNT) -> Path:
        """Write a new service-account JSON file for the fake and return its path."""
        path.write_text(json.dumps(self.new_service_account(email), indent=2), encoding="utf-8")
        return path

    def delete_key(self, email: str) -> None:
        """Forget an account's public key, as when its key is deleted in the console."""
        with self._lock:
            self._accounts.pop(email, None)

    def issue_token(self, email: str) -> str:
        """Issue an access token directly (for clients built with a static token)."""
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = email
        return token

    def revoke_tokens(self) -> None:
        """Make every issued access token invalid (clients must fetch new ones)."""
        with self._lock:
            self._tokens.clear()

    # -- spreadsheets ----------------------------------------------------------------------------

    def create_spreadsheet(
        self,
        spreadsheet_id: str | None = None,
        *,
        title: str = "Markkinointi",
        sheets: Sequence[str] = ("Sheet1",),
        shared_with: Iterable[str] = (DEFAULT_SERVICE_ACCOUNT,),
        role: str = "writer",
    ) -> str:
        """Create a spreadsheet shared with the given accounts and return its id."""
        sid = spreadsheet_id or "1" + secrets.token_urlsafe(32).replace("-", "x").replace("_", "y")
        with self._lock:
            tabs = [self._new_sheet(t, i) for i, t in enumerate(sheets)]
            self._spreadsheets[sid] = Spreadsheet(
                sid, title, self.owner, {email: role for email in shared_with}, tabs
            )
        return sid

    def _new_sheet(self, title: str, index: int, sheet_id: int | None = None) -> Sheet:
        if sheet_id is None:
            sheet_id = self._next_sheet_id
            self._next_sheet_id += 7919
        return Sheet(sheet_id=sheet_id, title=title, index=index)

    def share(self, spreadsheet_id: str, email: str, role: str = "writer") -> None:
        """Share a spreadsheet with an account ("writer" or "reader")."""
        with self._lock:
            self._spreadsheets[spreadsheet_id].roles[email] = role

    def unshare(self, spreadsheet_id: str, email: str) -> None:
        """Take an account's access away."""
        with self._lock:
            self._spreadsheets[spreadsheet_id].roles.pop(email, None)

    def _tab(self, spreadsheet_id: str, title: str) -> Sheet:
        sheet = self._spreadsheets[spreadsheet_id].sheet_by_title(title)
        if sheet is None:
            raise KeyError(f"no tab {title!r}")
        return sheet

    def tab_titles(self, spreadsheet_id: str) -> list[str]:
        """Return the spreadsheet's tab titles in order."""
        with self._lock:
            return [s.title for s in self._spreadsheets[spreadsheet_id].sheets]

    def values(self, spreadsheet_id: str, title: str) -> list[list[str]]:
        """Return a tab's cells as formatted text, trailing blanks trimmed like the API."""
        with self._lock:
            sheet = self._tab(spreadsheet_id, title)
            rendered = [[_render(v, "FORMATTED_VALUE") for v in row] for row in sheet.cells]
        return [[str(v) for v in row] for row in _trimmed(rendered)]

    def stored_cell(self, spreadsheet_id: str, title: str, a1: str) -> Cell:
        """Return what a cell holds: str for text, a number, or a Formula."""
        grid = parse_cells(a1, a1)
        with self._lock:
            return self._tab(spreadsheet_id, title).get(grid.start_row, grid.start_col)

    def set_cell(self, spreadsheet_id: str, title: str, a1: str, value: Cell) -> None:
        """Change one cell by hand."""
        grid = parse_cells(a1, a1)
        with self._lock:
            self._tab(spreadsheet_id, title).put(grid.start_row, grid.start_col, value)

    def sort_rows(
        self,
        spreadsheet_id: str,
        title: str,
        *,
        column: int = 1,
        reverse: bool = False,
        header_rows: int = 1,
    ) -> None:
        """Sort the rows below the header by one column, as a person might."""
        with self._lock:
            sheet = self._tab(spreadsheet_id, title)
            head, body = sheet.cells[:header_rows], sheet.cells[header_rows:]

            def key(row: list[Cell]) -> str:
                return str(row[column]) if column < len(row) and row[column] is not None else ""

            sheet.cells = head + sorted(body, key=key, reverse=reverse)

    def delete_row(self, spreadsheet_id: str, title: str, row_number: int) -> None:
        """Delete one row (1-based), shifting the rows below up, as a person might."""
        with self._lock:
            sheet = self._tab(spreadsheet_id, title)
            if row_number - 1 < len(sheet.cells):
                del sheet.cells[row_number - 1]
            sheet.row_count -= 1

    def insert_row(
        self, spreadsheet_id: str, title: str, row_number: int, values: Sequence[Cell]
    ) -> None:
        """Insert a row (1-based) by hand, shifting the rows below down."""
        with self._lock:
            sheet = self._tab(spreadsheet_id, title)
            while len(sheet.cells) < row_number - 1:
                sheet.cells.append([])
            sheet.cells.insert(row_number - 1, list(values))
            sheet.row_count += 1

    def add_tab(self, spreadsheet_id: str, title: str, *, rows: int = 1000, cols: int = 26) -> None:
        """Add an empty tab by hand."""
        with self._lock:
            book = self._spreadsheets[spreadsheet_id]
            sheet = self._new_sheet(title, len(book.sheets))
            sheet.row_count, sheet.column_count = rows, cols
            book.sheets.append(sheet)

    def delete_tab(self, spreadsheet_id: str, title: str) -> None:
        """Delete a tab by hand."""
        with self._lock:
            book = self._spreadsheets[spreadsheet_id]
            book.sheets.remove(self._tab(spreadsheet_id, title))
            book.reindex()

    def rename_tab(self, spreadsheet_id: str, title: str, new_title: str) -> None:
        """Rename a tab by hand."""
        with self._lock:
            self._tab(spreadsheet_id, title).title = new_title

    def resize_tab(self, spreadsheet_id: str, title: str, *, rows: int, cols: int) -> None:
        """Change a tab's grid size by hand (cells outside it are lost)."""
        with self._lock:
            sheet = self._tab(spreadsheet_id, title)
            sheet.row_count, sheet.column_count = rows, cols
            sheet.truncate()

    def sheet_properties(self, spreadsheet_id: str, title: str) -> dict[str, Any]:
        """Return a tab's properties as the API shows them."""
        with self._lock:
            return self._tab(spreadsheet_id, title).properties()

    def protected_ranges(self, spreadsheet_id: str, title: str) -> list[dict[str, Any]]:
        """Return a tab's protected ranges."""
        with self._lock:
            return copy.deepcopy(self._tab(spreadsheet_id, title).protected_ranges)

    def add_protection(self, spreadsheet_id: str, title: str, protected: dict[str, Any]) -> None:
        """Protect a range by hand (as the owner: only the listed editors keep edit rights)."""
        with self._lock:
            sheet = self._tab(spreadsheet_id, title)
            book = self._spreadsheets[spreadsheet_id]
            entry = copy.deepcopy(protected)
            entry.setdefault("warningOnly", False)
            entry["protectedRangeId"] = book.next_protected_range_id
            book.next_protected_range_id += 1
            sheet.protected_ranges.append(entry)

    def remove_protection(self, spreadsheet_id: str, title: str) -> None:
        """Remove every protected range of a tab by hand."""
        with self._lock:
            self._tab(spreadsheet_id, title).protected_ranges.clear()

    def unfreeze(self, spreadsheet_id: str, title: str) -> None:
        """Unfreeze a tab's rows by hand."""
        with self._lock:
            self._tab(spreadsheet_id, title).frozen_row_count = 0

    # -- faults and log --------------------------------------------------------------------------

    def fail(
        self,
        status: int = 503,
        *,
        times: int | None = 1,
        mode: str = "status",
        match: str | None = None,
        method: str | None = None,
        delay: float = 0.0,
        retry_after: str | None = None,
        apply_first: bool = False,
        include_token: bool = False,
    ) -> Fault:
        """Make the next `times` matching requests fail (None: until heal())."""
        fault = Fault(
            status, mode, times, match, method, delay, retry_after, apply_first, include_token
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def heal(self) -> None:
        """End every injected fault (and let held requests go, unapplied)."""
        with self._lock:
            for fault in self._faults:
                fault.released.set()
            self._faults.clear()

    def clear_log(self) -> None:
        """Forget the logged requests."""
        with self._lock:
            self.requests.clear()

    def api_requests(self, kind: str | None = None) -> list[LoggedRequest]:
        """Return the logged Sheets API requests (not token requests), optionally of one kind."""
        with self._lock:
            logged = list(self.requests)
        return [r for r in logged if r.kind != "token" and (kind is None or r.kind == kind)]

    # -- HTTP ------------------------------------------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        method = handler.command
        split = urlsplit(handler.path)
        path, query = split.path, split.query
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        kind = "token" if path == "/token" else ("read" if method == "GET" else "write")

        with self._lock:
            fault = next((f for f in self._faults if f.matches(method, path)), None)
            if fault is not None and fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)

        if fault is not None and fault.mode == "hold":
            fault.reached.set()
            fault.released.wait(fault.delay or 30.0)
            self._log(method, path, query, body, 0, kind, None)
            handler.close_connection = True
            return
        if fault is not None and fault.mode == "drop":
            self._log(method, path, query, body, 0, kind, None)
            handler.close_connection = True
            return
        if fault is not None and fault.mode == "slow":
            time.sleep(fault.delay)
            fault = None  # a slow answer is otherwise a normal one

        status, payload, headers, account = self._dispatch(
            method, path, query, body, kind, handler.headers.get("Authorization", ""), fault
        )
        data = json.dumps(payload).encode()
        self._log(method, path, query, body, status, kind, account, len(data))
        if kind == "write" and status == 200 and self.after_write is not None:
            self.after_write(path)
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json; charset=UTF-8")
            handler.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            handler.close_connection = True  # the client gave up (a timeout in a test)

    def _log(
        self,
        method: str,
        path: str,
        query: str,
        body: bytes,
        status: int,
        kind: str,
        account: str | None,
        response_size: int = 0,
    ) -> None:
        with self._lock:
            self.requests.append(
                LoggedRequest(method, path, query, len(body), status, kind, account, response_size)
            )

    def _dispatch(
        self,
        method: str,
        path: str,
        query: str,
        body: bytes,
        kind: str,
        authorization: str,
        fault: Fault | None,
    ) -> tuple[int, Any, dict[str, str], str | None]:
        headers: dict[str, str] = {}
        if fault is not None and fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
        if fault is not None and not fault.apply_first:
            return fault.status, self._fault_body(fault.status), headers, None
        account: str | None = None
        try:
            if kind == "token":
                payload: Any = self._token(body)
                status = 200
            else:
                with self._lock:
                    account = self._authenticate(authorization)
                    self._charge_quota(kind, account)
                    payload = self._route(method, path, parse_qs(query), body, account)
                status = 200
        except ApiError as err:
            return err.code, err.body(), headers, account
        except _TokenError as err:
            return 400, err.body, headers, None
        if fault is not None:  # apply_first: the work is done, yet the client hears a failure
            return fault.status, self._fault_body(fault.status), headers, account
        return status, payload, {}, account

    def _fault_body(self, status: int) -> dict[str, Any]:
        if status == 429:
            return quota_error("write", self.write_quota).body()
        name = _STATUS_NAMES.get(status, "UNKNOWN")
        return ApiError(status, name, _STATUS_MESSAGES.get(status, name)).body()

    def _authenticate(self, authorization: str) -> str:
        scheme, _, token = authorization.partition(" ")
        email = self._tokens.get(token) if scheme.lower() == "bearer" else None
        if email is None:
            raise ApiError(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
            )
        return email

    def _charge_quota(self, kind: str, account: str) -> None:
        limit = self.write_quota if kind == "write" else self.read_quota
        window = int(self.clock() // 60)
        key = (kind, account, window)
        used = self._quota_used.get(key, 0)
        if used >= limit:
            raise quota_error(kind, limit)
        self._quota_used[key] = used + 1

    # -- token endpoint --------------------------------------------------------------------------

    def _token(self, body: bytes) -> dict[str, Any]:
        form = parse_qs(body.decode())
        grant = form.get("grant_type", [""])[0]
        if grant != JWT_BEARER_GRANT:
            raise _TokenError("unsupported_grant_type", f"Invalid grant_type: {grant}")
        assertion = form.get("assertion", [""])[0]
        try:
            header_b64, payload_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(header_b64))
            claims = json.loads(_b64url_decode(payload_b64))
            signature = _b64url_decode(signature_b64)
        except ValueError:
            raise _TokenError("invalid_grant", "Invalid JWT: malformed assertion.") from None
        with self._lock:
            account = self._accounts.get(str(claims.get("iss")))
        if header.get("alg") != "RS256" or account is None or self.refuse_tokens:
            raise _TokenError("invalid_grant", "Invalid JWT Signature.")
        try:
            account.public_key.verify(
                signature,
                f"{header_b64}.{payload_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            raise _TokenError("invalid_grant", "Invalid JWT Signature.") from None
        if claims.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            raise _TokenError("invalid_grant", "Invalid JWT: Failed audience check.")
        now = time.time()
        if not (claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0) + 300):
            raise _TokenError(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                "timeframe. Check your iat and exp values in the JWT claim.",
            )
        return {
            "access_token": self.issue_token(account.email),
            "expires_in": 3599,
            "token_type": "Bearer",
        }

    # -- Sheets API --------------------------------------------------------------------------------

    _ROUTES: tuple[tuple[str, str, str], ...] = (
        ("GET", r"/v4/spreadsheets/(?P<id>[^/:]+)", "_get_spreadsheet"),
        ("POST", r"/v4/spreadsheets/(?P<id>[^/:]+):batchUpdate", "_batch_update"),
        ("POST", r"/v4/spreadsheets/(?P<id>[^/:]+)/values:batchUpdate", "_values_batch_update"),
        ("POST", r"/v4/spreadsheets/(?P<id>[^/:]+)/values:batchClear", "_values_batch_clear"),
        ("GET", r"/v4/spreadsheets/(?P<id>[^/:]+)/values:batchGet", "_values_batch_get"),
        ("POST", r"/v4/spreadsheets/(?P<id>[^/:]+)/values/(?P<range>.+):append", "_values_append"),
        ("POST", r"/v4/spreadsheets/(?P<id>[^/:]+)/values/(?P<range>.+):clear", "_values_clear"),
        ("GET", r"/v4/spreadsheets/(?P<id>[^/:]+)/values/(?P<range>[^:]+)", "_values_get"),
        ("PUT", r"/v4/spreadsheets/(?P<id>[^/:]+)/values/(?P<range>[^:]+)", "_values_put"),
    )

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes, account: str
    ) -> Any:
        for route_method, pattern, name in self._ROUTES:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                book = self._spreadsheets.get(unquote(match["id"]))
                if book is None:
                    raise ApiError(404, "NOT_FOUND", "Requested entity was not found.")
                role = book.roles.get(account)
                if role is None or (method != "GET" and role != "writer"):
                    raise ApiError(403, "PERMISSION_DENIED", "The caller does not have permission")
                try:
                    request = json.loads(body) if body else {}
                except ValueError:
                    raise _invalid("Invalid JSON payload received.") from None
                a1 = unquote(match.groupdict().get("range") or "")
                handler: Callable[..., Any] = getattr(self, name)
                return handler(book, a1, query, request, account)
        raise ApiError(404, "NOT_FOUND", f"Method not found: {method} {path}")

    def _get_spreadsheet(
        self, book: Spreadsheet, a1: str, query: dict[str, list[str]], request: Any, account: str
    ) -> Any:
        sheets = []
        for sheet in book.sheets:
            entry: dict[str, Any] = {"properties": sheet.properties()}
            if sheet.protected_ranges:
                entry["protectedRanges"] = copy.deepcopy(sheet.protected_ranges)
            sheets.append(entry)
        return {
            "spreadsheetId": book.spreadsheet_id,
            "properties": {
                "title": book.title,
                "locale": "fi_FI",
                "autoRecalc": "ON_CHANGE",
                "timeZone": "Europe/Helsinki",
            },
            "sheets": sheets,
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.spreadsheet_id}/edit",
        }

    def _resolve(self, book: Spreadsheet, a1: str) -> tuple[Sheet, GridRange]:
        title, part = split_a1(a1)
        sheet = book.sheets[0] if title is None else book.sheet_by_title(title)
        if sheet is None:
            raise _invalid(f"Unable to parse range: {a1}")
        return sheet, parse_cells(part, a1)

    @staticmethod
    def _grid_error(sheet: Sheet, row: int, col: int) -> ApiError:
        return _invalid(
            f"Range ('{sheet.title.replace(chr(39), chr(39) * 2)}'!{column_letters(col)}{row + 1}) "
            "exceeds grid "
            f"limits. Max rows: {sheet.row_count}, max columns: {sheet.column_count}"
        )

    def _bounded(self, sheet: Sheet, grid: GridRange) -> tuple[int, int, int, int]:
        end_row = sheet.row_count if grid.end_row is None else grid.end_row
        end_col = sheet.column_count if grid.end_col is None else grid.end_col
        if end_row > sheet.row_count or grid.start_row >= sheet.row_count:
            raise self._grid_error(sheet, max(end_row, grid.start_row + 1) - 1, grid.start_col)
        if end_col > sheet.column_count or grid.start_col >= sheet.column_count:
            raise self._grid_error(sheet, grid.start_row, max(end_col, grid.start_col + 1) - 1)
        return grid.start_row, end_row, grid.start_col, end_col

    def _read(self, book: Spreadsheet, a1: str, query: dict[str, list[str]]) -> dict[str, Any]:
        sheet, grid = self._resolve(book, a1)
        r0, r1, c0, c1 = self._bounded(sheet, grid)
        option = query.get("valueRenderOption", ["FORMATTED_VALUE"])[0]
        rows = [[_render(sheet.get(r, c), option) for c in range(c0, c1)] for r in range(r0, r1)]
        values = _trimmed(rows)
        if query.get("majorDimension", ["ROWS"])[0] == "COLUMNS":
            width = max((len(r) for r in values), default=0)
            values = _trimmed(
                [[r[c] if c < len(r) else None for r in values] for c in range(width)]
            )
        result: dict[str, Any] = {
            "range": format_a1(sheet.title, r0, r1, c0, c1),
            "majorDimension": query.get("majorDimension", ["ROWS"])[0],
        }
        if values:
            result["values"] = values
        return result

    def _values_get(
        self, book: Spreadsheet, a1: str, query: dict[str, list[str]], request: Any, account: str
    ) -> Any:
        return self._read(book, a1, query)

    def _values_batch_get(
        self, book: Spreadsheet, a1: str, query: dict[str, list[str]], request: Any, account: str
    ) -> Any:
        ranges = query.get("ranges", [])
        return {
            "spreadsheetId": book.spreadsheet_id,
            "valueRanges": [self._read(book, r, query) for r in ranges],
        }

    def _check_protection(
        self, sheet: Sheet, bounds: tuple[int, int, int, int], account: str
    ) -> None:
        r0, r1, c0, c1 = bounds
        for protected in sheet.protected_ranges:
            if protected.get("warningOnly"):
                continue
            if account in protected.get("editors", {}).get("users", []):
                continue
            rng = protected.get("range", {})
            pr0, pr1 = rng.get("startRowIndex", 0), rng.get("endRowIndex", sheet.row_count)
            pc0, pc1 = rng.get("startColumnIndex", 0), rng.get("endColumnIndex", sheet.column_count)
            if r0 < pr1 and pr0 < r1 and c0 < pc1 and pc0 < c1:
                raise ApiError(403, "PERMISSION_DENIED", PROTECTED_CELL_MESSAGE)

    def _write(
        self,
        book: Spreadsheet,
        a1: str,
        values: Any,
        option: str,
        major: str,
        account: str,
    ) -> dict[str, Any]:
        if option not in ("RAW", "USER_ENTERED"):
            raise _invalid("'valueInputOption' is required but not specified")
        if not isinstance(values, list) or not all(isinstance(r, list) for r in values):
            raise _invalid("Invalid value at 'data.values'")
        if major == "COLUMNS":
            height = max((len(c) for c in values), default=0)
            values = [[c[r] if r < len(c) else None for c in values] for r in range(height)]
        sheet, grid = self._resolve(book, a1)
        height = len(values)
        width = max((len(r) for r in values), default=0)
        if grid.end_row is not None and grid.start_row + height > grid.end_row:
            raise _invalid(
                f"Requested writing within range [{a1}], but tried writing to row "
                f"[{grid.start_row + height}]"
            )
        if grid.end_col is not None and grid.start_col + width > grid.end_col:
            raise _invalid(
                f"Requested writing within range [{a1}], but tried writing to column "
                f"[{column_letters(grid.start_col + width - 1)}]"
            )
        if grid.start_row + height > sheet.row_count:
            raise self._grid_error(sheet, sheet.row_count, grid.start_col)
        if grid.start_col + width > sheet.column_count:
            raise self._grid_error(sheet, grid.start_row, sheet.column_count)
        if height and width:
            bounds = (
                grid.start_row,
                grid.start_row + height,
                grid.start_col,
                grid.start_col + width,
            )
            self._check_protection(sheet, bounds, account)
        for i, row in enumerate(values):
            for j, value in enumerate(row):
                if value is None:
                    continue  # null leaves a cell as it is
                sheet.put(grid.start_row + i, grid.start_col + j, _parse_input(value, option))
        result: dict[str, Any] = {"spreadsheetId": book.spreadsheet_id}
        if height and width:
            result.update(
                updatedRange=format_a1(
                    sheet.title,
                    grid.start_row,
                    grid.start_row + height,
                    grid.start_col,
                    grid.start_col + width,
                ),
                updatedRows=height,
                updatedColumns=width,
                updatedCells=sum(len(r) for r in values),
            )
        return result

    def _atomically(self, book: Spreadsheet, work: Callable[[Spreadsheet], Any]) -> Any:
        """Run work on a copy of the spreadsheet and keep the copy only if all of it succeeds."""
        # Cells hold immutable values, so copying the row lists is a full copy (and far
        # quicker than deepcopy on a tab of 100,000 rows).
        draft = copy.copy(book)
        draft.roles = dict(book.roles)
        draft.sheets = [
            dataclasses.replace(
                sheet,
                cells=[list(row) for row in sheet.cells],
                protected_ranges=copy.deepcopy(sheet.protected_ranges),
            )
            for sheet in book.sheets
        ]
        result = work(draft)
        self._spreadsheets[book.spreadsheet_id] = draft
        return result

    def _values_put(
        self, book: Spreadsheet, a1: str, query: dict[str, list[str]], request: Any, account: str
    ) -> Any:
        option = query.get("valueInputOption", [""])[0]
        major = request.get("majorDimension", "ROWS")
        return self._atomically(
            book,
            lambda draft: self._write(draft, a1, request.get("values", []), option, major, account),
        )

    def _values_batch_update(
        self, book: Spreadsheet, a1: str, query: dict[str, list[str]], request: Any, account: str
    ) -> Any:
        option = request.get("valueInputOption", "")
        data = request.get("data", [])

        def work(draft: Spreadsheet) -> Any:
            responses = [
                self._write(
                    draft,
                    item.get("range", ""),
                    item.get("values", []),
                    option,
                    item.get("majorDimension", "ROWS"),
                    account,
                )
                for item in data
            ]
            if not data and option not in ("RAW", "USER_ENTERED"):
                raise _invalid("'valueInputOption' is required but not specified")
            return {
                "spreadsheetId": book.spreadsheet_id,
                "totalUpdatedRows": sum(r.get("updatedRows", 0) for r in responses),
                "totalUpdatedColumns": sum(r.get("updatedColumns", 0) for r in responses),
                "totalUpdatedCells": sum(r.get("updatedCells", 0) for r in responses),
                "totalUpdatedSheets": len(
                    {r["updatedRange"].rsplit("!", 1)[0] for r in responses if "updatedRange" in r}
                ),
                "responses": responses,
            }

        return self._atomically(book, work)

    def _clear(self, book: Spreadsheet, a1: str, account: str) -> str:
        sheet, grid = self._resolve(book, a1)
        bounds = self._bounded(sheet, grid)
        self._check_protection(sheet, bounds, account)
        r0, r1, c0, c1 = bounds
        for r in range(r0, min(r1, len(sheet.cells))):
            for c in range(c0, min(c1, len(sheet.cells[r]))):
                sheet.cells[r][c] = None
        return format_a1(sheet.title, r0, r1, c0, c1)

    def _values_clear(
        self, book: Spreadsheet, a1: str, query: dict[str, list[str]], request: Any, account: str
    ) -> Any:
        cleared = self._atomically(book, lambda draft: self._clear(draft, a1, account))
        return {"spreadsheetId": book.spreadsheet_id, "clearedRange": cleared}

    def _values_batch_clear(
        self, book: Spreadsheet, a1: str, query: dict[str, list[str]], request: Any, account: str
    ) -> Any:
        ranges = request.get("ranges", [])
        cleared = self._atomically(
            book, lambda draft: [self._clear(draft, r, account) for r in ranges]
        )
        return {"spreadsheetId": book.spreadsheet_id, "clearedRanges": cleared}

    def _values_append(
        self, book: Spreadsheet, a1: str, query: dict[str, list[str]], request: Any, account: str
    ) -> Any:
        option = query.get("valueInputOption", [""])[0]
        values = request.get("values", [])

        def work(draft: Spreadsheet) -> Any:
            sheet, grid = self._resolve(draft, a1)
            # The "table" is every row with content; new rows go right below the last one.
            last = max(
                (i for i, row in enumerate(sheet.cells) if any(v is not None for v in row)),
                default=grid.start_row - 1,
            )
            start = max(last + 1, grid.start_row)
            needed = start + len(values)
            if needed > sheet.row_count:
                sheet.row_count = needed  # append grows the grid; update does not
            width = max((len(r) for r in values), default=1)
            target = format_a1(
                sheet.title,
                start,
                start + max(len(values), 1),
                grid.start_col,
                grid.start_col + width,
            )
            updates = self._write(draft, target, values, option, "ROWS", account)
            return {
                "spreadsheetId": draft.spreadsheet_id,
                "tableRange": format_a1(
                    sheet.title,
                    grid.start_row,
                    max(start, grid.start_row + 1),
                    grid.start_col,
                    grid.start_col + width,
                ),
                "updates": updates,
            }

        return self._atomically(book, work)

    # -- spreadsheets:batchUpdate ---------------------------------------------------------------

    def _batch_update(
        self, book: Spreadsheet, a1: str, query: dict[str, list[str]], request: Any, account: str
    ) -> Any:
        requests = request.get("requests", [])
        if not requests:
            raise _invalid("Must specify at least one request.")

        def work(draft: Spreadsheet) -> Any:
            replies = []
            for i, sub in enumerate(requests):
                if not isinstance(sub, dict) or len(sub) != 1:
                    raise _invalid(f"Invalid requests[{i}]: exactly one kind of request expected")
                ((name, args),) = sub.items()
                handler = getattr(self, f"_req_{name}", None)
                if handler is None:
                    raise _invalid(
                        f'Invalid JSON payload received. Unknown name "{name}" at '
                        f"'requests[{i}]': Cannot find field."
                    )
                try:
                    replies.append(handler(draft, args, account))
                except ApiError as err:
                    raise ApiError(
                        err.code, err.status, f"Invalid requests[{i}].{name}: {err.message}"
                    ) from None
            return {"spreadsheetId": draft.spreadsheet_id, "replies": replies}

        return self._atomically(book, work)

    def _req_addSheet(self, book: Spreadsheet, args: Any, account: str) -> Any:
        props = args.get("properties", {})
        title = props.get("title") or f"Sheet{len(book.sheets) + 1}"
        if book.sheet_by_title(title) is not None:
            raise _invalid(
                f'A sheet with the name "{title}" already exists. Please enter another name.'
            )
        sheet_id = props.get("sheetId")
        if sheet_id is not None and any(s.sheet_id == sheet_id for s in book.sheets):
            raise _invalid(f"Sheet with id {sheet_id} already exists.")
        index = props.get("index", len(book.sheets))
        sheet = self._new_sheet(title, index, sheet_id)
        grid = props.get("gridProperties", {})
        sheet.row_count = grid.get("rowCount", 1000)
        sheet.column_count = grid.get("columnCount", 26)
        sheet.frozen_row_count = grid.get("frozenRowCount", 0)
        sheet.frozen_column_count = grid.get("frozenColumnCount", 0)
        sheet.hidden = bool(props.get("hidden", False))
        book.sheets.insert(min(index, len(book.sheets)), sheet)
        book.reindex()
        return {"addSheet": {"properties": sheet.properties()}}

    def _req_deleteSheet(self, book: Spreadsheet, args: Any, account: str) -> Any:
        sheet = book.sheet_by_id(args.get("sheetId"))
        if len(book.sheets) == 1:
            raise _invalid("You can't remove all the sheets in a document.")
        book.sheets.remove(sheet)
        book.reindex()
        return {}

    def _req_updateSheetProperties(self, book: Spreadsheet, args: Any, account: str) -> Any:
        props = args.get("properties", {})
        fields = [f.strip() for f in args.get("fields", "").split(",") if f.strip()]
        if not fields:
            raise _invalid("At least one field must be updated, but 'fields' is empty.")
        sheet = book.sheet_by_id(props.get("sheetId"))
        grid = props.get("gridProperties", {})
        setters: dict[str, Callable[[], None]] = {
            "title": lambda: setattr(sheet, "title", props.get("title", sheet.title)),
            "hidden": lambda: setattr(sheet, "hidden", bool(props.get("hidden", False))),
            "gridProperties.rowCount": lambda: setattr(sheet, "row_count", grid.get("rowCount", 0)),
            "gridProperties.columnCount": lambda: setattr(
                sheet, "column_count", grid.get("columnCount", 0)
            ),
            "gridProperties.frozenRowCount": lambda: setattr(
                sheet, "frozen_row_count", grid.get("frozenRowCount", 0)
            ),
            "gridProperties.frozenColumnCount": lambda: setattr(
                sheet, "frozen_column_count", grid.get("frozenColumnCount", 0)
            ),
        }
        expanded: list[str] = []
        for name in fields:
            if name in ("*", "gridProperties"):
                prefix = "" if name == "*" else "gridProperties."
                expanded += [k for k in setters if k.startswith(prefix)]
            elif name == "index":
                continue
            elif name in setters:
                expanded.append(name)
            else:
                raise _invalid(f"Invalid field mask: {name}")
        new_title = props.get("title")
        if "title" in expanded and new_title != sheet.title and book.sheet_by_title(new_title):
            raise _invalid(
                f'A sheet with the name "{new_title}" already exists. Please enter another name.'
            )
        for name in expanded:
            setters[name]()
        if sheet.row_count < 1 or sheet.column_count < 1:
            raise _invalid("Sheet must have at least one row and one column.")
        if sheet.frozen_row_count >= sheet.row_count:
            raise _invalid("You can't freeze all visible rows on the sheet.")
        sheet.truncate()
        return {}

    def _req_appendDimension(self, book: Spreadsheet, args: Any, account: str) -> Any:
        sheet = book.sheet_by_id(args.get("sheetId"))
        length = int(args.get("length", 0))
        if length < 1:
            raise _invalid("length must be positive")
        if args.get("dimension") == "COLUMNS":
            sheet.column_count += length
        else:
            sheet.row_count += length
        return {}

    def _req_insertDimension(self, book: Spreadsheet, args: Any, account: str) -> Any:
        rng = args.get("range", {})
        sheet = book.sheet_by_id(rng.get("sheetId"))
        start, end = int(rng.get("startIndex", 0)), int(rng.get("endIndex", 0))
        count = end - start
        if count < 1:
            raise _invalid("endIndex must be greater than startIndex")
        if rng.get("dimension") == "COLUMNS":
            for line in sheet.cells:
                if len(line) > start:
                    line[start:start] = [None] * count
            sheet.column_count += count
        else:
            if len(sheet.cells) > start:
                sheet.cells[start:start] = [[] for _ in range(count)]
            sheet.row_count += count
        return {}

    def _req_updateCells(self, book: Spreadsheet, args: Any, account: str) -> Any:
        fields = args.get("fields", "")
        if not fields:
            raise _invalid("'fields' is required but not specified")
        if fields not in ("userEnteredValue", "*"):
            raise _invalid(f"the fake supports only the userEnteredValue field, not {fields}")
        start = args.get("start")
        if start is None:
            raise _invalid("Either 'start' or 'range' must be specified (the fake: 'start')")
        sheet = book.sheet_by_id(start.get("sheetId", 0))
        r0, c0 = int(start.get("rowIndex", 0)), int(start.get("columnIndex", 0))
        rows = args.get("rows", [])
        height = len(rows)
        width = max((len(r.get("values", [])) for r in rows), default=0)
        if r0 + height > sheet.row_count:
            raise self._grid_error(sheet, sheet.row_count, c0)
        if c0 + width > sheet.column_count:
            raise self._grid_error(sheet, r0, sheet.column_count)
        if height and width:
            self._check_protection(sheet, (r0, r0 + height, c0, c0 + width), account)
        for i, row in enumerate(rows):
            for j, cell in enumerate(row.get("values", [])):
                entered = cell.get("userEnteredValue")
                value: Cell
                if not entered:
                    value = None  # a cell without a value, under the field mask, is cleared
                elif "stringValue" in entered:
                    value = str(entered["stringValue"]) or None  # text, never a formula
                elif "numberValue" in entered:
                    value = entered["numberValue"]
                elif "boolValue" in entered:
                    value = bool(entered["boolValue"])
                elif "formulaValue" in entered:
                    value = Formula(str(entered["formulaValue"]))
                else:
                    raise _invalid(f"Invalid value at 'rows[{i}].values[{j}].user_entered_value'")
                if value is None and r0 + i >= len(sheet.cells):
                    continue
                sheet.put(r0 + i, c0 + j, value)
        return {}

    def _req_deleteDimension(self, book: Spreadsheet, args: Any, account: str) -> Any:
        rng = args.get("range", {})
        sheet = book.sheet_by_id(rng.get("sheetId"))
        start = int(rng.get("startIndex", 0))
        if rng.get("dimension") == "COLUMNS":
            end = int(rng.get("endIndex", sheet.column_count))
            if end > sheet.column_count or start >= end:
                raise self._grid_error(sheet, 0, end - 1)
            if end - start >= sheet.column_count:
                raise _invalid("You can't delete all the columns on the sheet.")
            for line in sheet.cells:
                del line[start:end]
            sheet.column_count -= end - start
        else:
            end = int(rng.get("endIndex", sheet.row_count))
            if end > sheet.row_count or start >= end:
                raise self._grid_error(sheet, end - 1, 0)
            if end - start >= sheet.row_count - sheet.frozen_row_count:
                raise _invalid("You can't delete all the rows on the sheet.")
            del sheet.cells[start:end]
            sheet.row_count -= end - start
        return {}

    def _protected(self, book: Spreadsheet, spec: dict[str, Any], account: str) -> dict[str, Any]:
        rng = spec.get("range", {})
        book.sheet_by_id(rng.get("sheetId", 0))
        protected = copy.deepcopy(spec)
        protected.setdefault("warningOnly", False)
        protected.pop("requestingUserCanEdit", None)
        if not protected["warningOnly"]:
            users = list(protected.get("editors", {}).get("users", []))
            # Google always keeps the owner and the requesting account as editors.
            for always in (book.owner, account):
                if always not in users:
                    users.append(always)
            protected["editors"] = {**protected.get("editors", {}), "users": users}
        else:
            protected.pop("editors", None)
        return protected

    def _req_addProtectedRange(self, book: Spreadsheet, args: Any, account: str) -> Any:
        protected = self._protected(book, args.get("protectedRange", {}), account)
        protected["protectedRangeId"] = book.next_protected_range_id
        book.next_protected_range_id += 1
        sheet = book.sheet_by_id(protected["range"]["sheetId"])
        sheet.protected_ranges.append(protected)
        return {"addProtectedRange": {"protectedRange": copy.deepcopy(protected)}}

    def _find_protected(self, book: Spreadsheet, range_id: Any) -> tuple[Sheet, int]:
        for sheet in book.sheets:
            for i, protected in enumerate(sheet.protected_ranges):
                if protected.get("protectedRangeId") == range_id:
                    return sheet, i
        raise _invalid(f"No protected range with id: {range_id}")

    def _req_updateProtectedRange(self, book: Spreadsheet, args: Any, account: str) -> Any:
        spec = args.get("protectedRange", {})
        sheet, i = self._find_protected(book, spec.get("protectedRangeId"))
        current = sheet.protected_ranges[i]
        fields = [f.strip() for f in args.get("fields", "").split(",") if f.strip()]
        merged = copy.deepcopy(current)
        for name in fields:
            if name == "*":
                merged = copy.deepcopy(spec)
            else:
                merged[name] = copy.deepcopy(spec.get(name))
        merged = self._protected(book, merged, account)
        merged["protectedRangeId"] = current["protectedRangeId"]
        del sheet.protected_ranges[i]
        book.sheet_by_id(merged["range"]["sheetId"]).protected_ranges.append(merged)
        return {}

    def _req_deleteProtectedRange(self, book: Spreadsheet, args: Any, account: str) -> Any:
        sheet, i = self._find_protected(book, args.get("protectedRangeId"))
        del sheet.protected_ranges[i]
        return {}


class _TokenError(Exception):
    """An OAuth2 error answer from the token endpoint."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.body = {"error": error, "error_description": description}


class SimulatedTime:
    """A clock and a sleep that only move when something sleeps: for retry tests without waiting."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        """Record the wait and move the clock on."""
        self.sleeps.append(seconds)
        self.now += seconds


def iter_values_writes(fake: FakeGoogleSheets) -> Iterator[LoggedRequest]:
    """Yield the logged values:batchUpdate requests."""
    for logged in fake.api_requests("write"):
        if logged.path.endswith("/values:batchUpdate"):
            yield logged

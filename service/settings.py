"""Every CONSENT_* setting declared once; loading, validation and the staff page follow from it."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from service.domain.languages import LANGUAGES

TOTP_POLICIES = ("none", "admins", "all")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# What the settings above a declaration loaded, by Settings field: some defaults and
# requirements depend on them (the SQLite file lives in the data dir, and so on).
Loaded = Mapping[str, Any]
# Read a variable's text (stripped, never blank) into its value; the name goes into refusals.
Parser = Callable[[str, str], Any]
# Turn a loaded value into the words of the staff settings page.
Display = Callable[[Any], str]

GENERATE_A_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"


class SettingsError(Exception):
    """The configuration cannot work; the message says which variable to fix and how."""


@dataclass(frozen=True)
class Settings:
    """The service's validated configuration."""

    data_dir: Path
    database_url: str
    secret_keys: tuple[str, ...]
    public_url: str
    smtp_url: str | None
    mail_from: str
    organization: str
    privacy_url: str | None
    unsubscribe_mailto: str | None
    timezone: str
    google_credentials: Path | None
    spreadsheet_id: str | None
    worksheet: str
    sheets_api_url: str | None
    double_opt_in: bool
    default_language: str
    allowed_origins: tuple[str, ...]
    trusted_proxies: int
    optin_rate_limit: str
    ratelimit_storage_url: str
    require_totp: str
    outbox_lease_seconds: float = 300.0
    mirror_full_pass_seconds: float = 600.0
    retention_pending_days: int = 30
    retention_ip_days: int = 365
    metrics_networks: tuple[Network, ...] = ()
    checkpoint_mailto: str | None = None
    # The practice's postal address, given as the controller's in consent records and receipts.
    organization_address: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_postgresql(self) -> bool:
        """Tell whether the database is PostgreSQL."""
        return self.database_url.startswith("postgresql")

    @property
    def is_sqlite(self) -> bool:
        """Tell whether the database is SQLite."""
        return self.database_url.startswith("sqlite")

    @property
    def public_url_is_https(self) -> bool:
        """Tell whether links in emails use https (needed for RFC 8058 one-click)."""
        return self.public_url.startswith("https://")

    @property
    def outbox_dir(self) -> Path:
        """Return the folder where .eml files go when no SMTP server is configured."""
        return self.data_dir / "outbox"

    @property
    def erasure_journal(self) -> Path:
        """Return the erasure journal: erasures kept outside the database for restores."""
        return self.data_dir / "erasures.jsonl"


# Parsers: each refuses a bad value with a message naming the variable and how to fix it.


def _text(name: str, raw: str) -> str:
    """Take the value as written."""
    return raw


def _path(name: str, raw: str) -> Path:
    """Read a file's path as written (relative to where the service starts)."""
    return Path(raw)


def _data_dir(name: str, raw: str) -> Path:
    """Read the data directory as an absolute path, so later changes of folder do not move it."""
    return Path(raw).resolve()


def _database_url(name: str, raw: str) -> str:
    """Accept PostgreSQL (always through psycopg 3) or SQLite."""
    try:
        parsed = make_url(raw)
    except ArgumentError:
        raise SettingsError(
            f"{name} is not a database URL: write it as "
            "postgresql+psycopg://user:password@host:5432/dbname, or leave it unset for SQLite."
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise SettingsError(
            f"{name} uses {backend!r}; only postgresql+psycopg:// and sqlite:// work."
        )
    if backend == "postgresql" and parsed.drivername != "postgresql+psycopg":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return raw


def _signing_keys(name: str, raw: str) -> tuple[str, ...]:
    """Read comma-separated signing keys, oldest first, each at least 16 characters long."""
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    if any(len(k) < 16 for k in keys):
        raise SettingsError(
            f"{name}: every key must be at least 16 characters long "
            f"(generate one with: {GENERATE_A_KEY})."
        )
    return keys


def _public_url(name: str, raw: str) -> str:
    """Read the service's own address, without a trailing slash."""
    url = raw.rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(
            f"{name} must be an http(s) URL such as https://consent.example.fi, not {url!r}."
        )
    return url


def _smtp_url(name: str, raw: str) -> str:
    """Accept smtp:// or smtps:// with a host."""
    parts = urlsplit(raw)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SettingsError(
            f"{name} must look like smtp://user:pass@host:587?starttls=1 "
            "or smtps://user:pass@host:465."
        )
    return raw


def _time_zone(name: str, raw: str) -> str:
    """Accept a time zone of the IANA database."""
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"{name} {raw!r} is not a known time zone; use e.g. Europe/Helsinki."
        ) from None
    return raw


def _on_or_off(name: str, raw: str) -> bool:
    """Read a yes-or-no setting."""
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}.")


def _one_of(*choices: str) -> Parser:
    """Accept exactly one of the given words."""

    def parse(name: str, raw: str) -> str:
        if raw not in choices:
            raise SettingsError(f"{name} must be {', '.join(choices[:-1])} or {choices[-1]}.")
        return raw

    return parse


def _origin(name: str, raw: str) -> str:
    """Read one web origin (scheme and host), in lower case."""
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise SettingsError(
            f"{name}: {raw!r} is not an origin; write it as https://www.example.fi "
            "(scheme and host, no path)."
        )
    return f"{parts.scheme}://{parts.netloc}".lower()


def _origins(name: str, raw: str) -> tuple[str, ...]:
    """Read comma-separated web origins."""
    return tuple(_origin(name, item) for item in raw.split(",") if item.strip())


def _proxy_count(name: str, raw: str) -> int:
    """Read how many reverse proxies stand in front."""
    if not raw.isdigit():
        raise SettingsError(f"{name} must be a whole number (0 without a proxy).")
    return int(raw)


def _rate_limit(name: str, raw: str) -> str:
    """Accept a rate limit as Flask-Limiter writes it (10/minute)."""
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        raise SettingsError(f"{name} {raw!r} is not understood; write e.g. 10/minute.") from None
    return raw


def _seconds(example: str = "") -> Parser:
    """Read a number of seconds; the refusal shows the example, if any."""

    def parse(name: str, raw: str) -> float:
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a number of seconds{example}.") from None

    return parse


def _days(name: str, raw: str) -> int:
    """Read a whole number of days, at least one."""
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"{name} must be a whole number of days, at least 1.")
    return int(raw)


def _networks(name: str, raw: str) -> tuple[Network, ...]:
    """Read comma-separated CIDR blocks."""
    networks = []
    for item in (i.strip() for i in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise SettingsError(
                f"{name}: {item!r} is not a network; write CIDR blocks such as "
                "10.0.0.0/8, 192.168.1.20/32 or fd00::/8, separated by commas."
            ) from None
    return tuple(networks)


def _one_address(name: str, raw: str) -> str:
    """Accept one email address (the checkpoint goes to one owner, not a list)."""
    if raw.count("@") != 1 or any(c in raw for c in " ,;<>"):
        raise SettingsError(
            f"{name} must be one email address (e.g. omistaja@klinikka.fi) "
            "where the daily signed checkpoint of the ledger is mailed."
        )
    return raw


# Displays on the staff settings page; a secret is only ever "set" or unset.


def _as_is(value: Any) -> str:
    """Show the value as loaded."""
    return str(value)


def _or_unset(value: str | None) -> str:
    """Show the value, or that it is unset."""
    return value or "unset"


def _true_or_false(value: bool) -> str:
    """Show a yes-or-no setting as it is written."""
    return str(value).lower()


def _listed_or_none(value: tuple[str, ...]) -> str:
    """Show a list comma-separated, or that it is empty."""
    return ", ".join(value) or "none"


def _set_or(unset: str) -> Display:
    """Show only whether a secret is set, never its value."""
    return lambda value: "set" if value else unset


def _database_kind(url: str) -> str:
    """Show which database, never its URL (it holds the password)."""
    return "PostgreSQL" if url.startswith("postgresql") else "SQLite"


# Defaults and requirements that depend on the settings above them in the table.


def _sqlite_in_data_dir(loaded: Loaded) -> str:
    """Return the embedded SQLite database's URL."""
    return f"sqlite:///{loaded['data_dir'] / 'consent.sqlite3'}"


def _generated_key(loaded: Loaded) -> tuple[str, ...]:
    """Return the generated signing key kept in the data dir, creating it once."""
    data_dir: Path = loaded["data_dir"]
    path = data_dir / "secret_key"
    if path.exists():
        return (path.read_text().strip(),)
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return (key,)


@dataclass(frozen=True)
class Requirement:
    """Refuse to leave a setting unset when the settings above it need it (`applies`)."""

    applies: Callable[[Loaded], bool]
    refusal: str


@dataclass(frozen=True)
class Setting:
    """One CONSENT_* variable: how it is read, its default, its meaning, how staff see it."""

    name: str
    attribute: str  # the Settings field it fills
    meaning: str  # as the README's table says it (Markdown)
    parse: Parser = _text
    default: str | None = None  # read as if written, when the variable is unset or blank
    default_from: Callable[[Loaded], Any] | None = None  # the value when unset, from those above
    default_said: str | None = None  # the README's words for a default that is not one value
    required: Requirement | None = None
    shown: Display | None = None  # its value on the staff settings page; None: not shown
    secret: bool = False  # never shown as it is: it holds a key or a password

    def load(self, raw: str | None, loaded: Loaded) -> Any:
        """Return this setting's value from its variable's text, else its default."""
        written = (raw or "").strip()
        if written:
            return self.parse(self.name, written)
        if self.required is not None and self.required.applies(loaded):
            raise SettingsError(self.required.refusal)
        if self.default_from is not None:
            return self.default_from(loaded)
        return None if self.default is None else self.parse(self.name, self.default)


# In the README's order (tests/unit/test_readme_settings_table.py prints the rows it expects);
# a setting may depend on those above it, and a refusal names the first bad one in this order.
# A new setting: a field of Settings, a declaration here, a row in the README and compose.yaml.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "CONSENT_DATA_DIR", "data_dir",
        "where the embedded defaults live (the SQLite file, the generated key, `.eml` files, "
        "the local mirror) and, with any database, the erasure journal",
        parse=_data_dir, default="./instance",
    ),
    Setting(
        "CONSENT_DATABASE_URL", "database_url",
        "`postgresql+psycopg://user:pass@host:5432/db` in production",
        parse=_database_url, default_from=_sqlite_in_data_dir,
        default_said="SQLite file in the data dir", shown=_database_kind, secret=True,
    ),
    Setting(
        "CONSENT_SECRET_KEYS", "secret_keys",
        "comma-separated signing keys of at least 16 characters, oldest first; the last signs, "
        "all verify. Never remove a key that signed unsubscribe links still in people's mailboxes",
        parse=_signing_keys, default_from=_generated_key,
        default_said="generated once (SQLite only; required with PostgreSQL)", secret=True,
        required=Requirement(
            lambda loaded: str(loaded["database_url"]).startswith("postgresql"),
            "CONSENT_SECRET_KEYS is required with PostgreSQL: every container must sign links "
            "with the same keys, or the links in sent emails stop working. Generate one with "
            f"{GENERATE_A_KEY} and set it everywhere.",
        ),
    ),
    Setting(
        "CONSENT_PUBLIC_URL", "public_url",
        "the service's address as links in emails show it",
        parse=_public_url, default="http://127.0.0.1:8000", shown=_as_is,
    ),
    Setting(
        "CONSENT_SMTP_URL", "smtp_url",
        "`smtp://user:pass@host:587?starttls=1` or `smtps://user:pass@host:465`",
        parse=_smtp_url, default_said="unset: `.eml` files",
        shown=_set_or("unset (.eml files)"), secret=True,
    ),
    Setting(
        "CONSENT_MAIL_FROM", "mail_from",
        "sender address (required once SMTP is set)",
        default="noreply@localhost", shown=_as_is,
        required=Requirement(
            lambda loaded: bool(loaded["smtp_url"]),
            "CONSENT_MAIL_FROM is required once CONSENT_SMTP_URL is set: the address "
            "emails are sent from, e.g. uutiskirje@klinikka.fi.",
        ),
    ),
    Setting(
        "CONSENT_ORGANIZATION", "organization",
        "the practice's name in emails and pages",
        default="Our practice", shown=_as_is,
    ),
    Setting(
        "CONSENT_PRIVACY_URL", "privacy_url",
        "the practice's privacy notice",
        default_said="unset", shown=_or_unset,
    ),
    Setting(
        "CONSENT_ORGANIZATION_ADDRESS", "organization_address",
        "the practice's postal address, given as the controller's in consent records and "
        "receipts (ISO/IEC TS 27560 asks for it)",
        default_said="unset", shown=_or_unset,
    ),
    Setting(
        "CONSENT_UNSUBSCRIBE_MAILTO", "unsubscribe_mailto",
        "a `mailto:` address beside the https unsubscribe link",
        default_said="unset",
    ),
    Setting(
        "CONSENT_TIMEZONE", "timezone",
        "local time for people and the Sheet",
        parse=_time_zone, default="Europe/Helsinki", shown=_as_is,
    ),
    Setting(
        "CONSENT_GOOGLE_CREDENTIALS", "google_credentials",
        "path to the service-account JSON",
        parse=_path, default_said="unset: local file mirror",
        shown=_set_or("unset (local file mirror)"),
    ),
    Setting(
        "CONSENT_SPREADSHEET_ID", "spreadsheet_id",
        "the Sheet's id",
        default_said="unset (required with `CONSENT_GOOGLE_CREDENTIALS`)",
        required=Requirement(
            lambda loaded: bool(loaded["google_credentials"]),
            "CONSENT_SPREADSHEET_ID is required with CONSENT_GOOGLE_CREDENTIALS: copy it from "
            "the Sheet's address, docs.google.com/spreadsheets/d/<this part>/edit.",
        ),
    ),
    Setting(
        "CONSENT_WORKSHEET", "worksheet",
        "the tab's title",
        default="Markkinointirekisteri", shown=_as_is,
    ),
    Setting(
        "CONSENT_SHEETS_API_URL", "sheets_api_url",
        "another Sheets API base URL (emulators, tests)",
        default_said="Google's",
    ),
    Setting(
        "CONSENT_MIRROR_FULL_PASS_SECONDS", "mirror_full_pass_seconds",
        "how often a full mirror pass repairs hand edits of the tab even when nothing changed",
        parse=_seconds(" (e.g. 600)"), default="600",
    ),
    Setting(
        "CONSENT_DOUBLE_OPT_IN", "double_opt_in",
        "`true` or `false`",
        parse=_on_or_off, default="true", shown=_true_or_false,
    ),
    Setting(
        "CONSENT_DEFAULT_LANGUAGE", "default_language",
        "`fi`, `sv` or `en`",
        parse=_one_of(*LANGUAGES), default="fi", shown=_as_is,
    ),
    Setting(
        "CONSENT_ALLOWED_ORIGINS", "allowed_origins",
        "comma-separated origins (`https://www.klinikka.fi`) that get CORS headers, may be "
        "`next` targets and may frame the hosted form",
        parse=_origins, default="", default_said="none", shown=_listed_or_none,
    ),
    Setting(
        "CONSENT_TRUSTED_PROXIES", "trusted_proxies",
        "how many reverse proxies add `X-Forwarded-For`",
        parse=_proxy_count, default="0",
    ),
    Setting(
        "CONSENT_OPTIN_RATE_LIMIT", "optin_rate_limit",
        "opt-ins per client IP",
        parse=_rate_limit, default="10/minute",
    ),
    Setting(
        "CONSENT_RATELIMIT_STORAGE_URL", "ratelimit_storage_url",
        "shared rate-limit counters, `redis://host:6379/0` with several processes; while Redis "
        "does not answer each process counts on its own (one warning in the log, one line when "
        "it answers again), so limits keep holding",
        default="memory://", default_said="in memory", secret=True,
    ),
    Setting(
        "CONSENT_REQUIRE_TOTP", "require_totp",
        "`none`, `admins` or `all`",
        parse=_one_of(*TOTP_POLICIES), default="admins", shown=_as_is,
    ),
    Setting(
        "CONSENT_OUTBOX_LEASE_SECONDS", "outbox_lease_seconds",
        "how long a worker holds a queued item before another may retry it",
        parse=_seconds(), default="300",
    ),
    Setting(
        "CONSENT_RETENTION_PENDING_DAYS", "retention_pending_days",
        "opt-ins not confirmed within this many days are removed (daily, by the worker)",
        parse=_days, default="30",
    ),
    Setting(
        "CONSENT_RETENTION_IP_DAYS", "retention_ip_days",
        "IP addresses in evidence and the audit log older than this many days are cleared",
        parse=_days, default="365",
    ),
    Setting(
        "CONSENT_METRICS_NETWORKS", "metrics_networks",
        "comma-separated networks (CIDR, `10.0.0.0/8`, `192.168.1.20/32`) whose callers may "
        "read `GET /metrics` without an API key; never list a reverse proxy's own address "
        "(see [Monitoring](#monitoring))",
        parse=_networks, default="", default_said="none: an API key is needed",
    ),
    Setting(
        "CONSENT_CHECKPOINT_MAILTO", "checkpoint_mailto",
        "an address the daily signed checkpoint of the ledger is mailed to (it is also written "
        "to the Sheet's protected `checkpoints` tab, or beside the local mirror); see "
        "[Proof that the ledger is whole](#proof-that-the-ledger-is-whole)",
        parse=_one_address, default_said="unset",
    ),
)


def _read_env(environ: Mapping[str, str] | None) -> dict[str, str]:
    """Merge a .env file (if any) under the process environment."""
    if environ is not None:
        return dict(environ)
    from dotenv import dotenv_values

    merged = {k: v for k, v in dotenv_values(".env").items() if v is not None}
    merged.update(os.environ)
    return merged


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read CONSENT_* variables, apply the embedded defaults and validate them."""
    env = _read_env(environ)
    loaded: dict[str, Any] = {}
    for setting in SETTINGS:
        loaded[setting.attribute] = setting.load(env.get(setting.name), loaded)
    return Settings(**loaded, extra={k: v for k, v in env.items() if k.startswith("CONSENT_")})


def settings_page_rows(settings: Settings) -> list[tuple[str, str]]:
    """Return what the staff settings page shows: each shown setting's name and value."""
    return [(setting.name, setting.shown(getattr(settings, setting.attribute)))
            for setting in SETTINGS if setting.shown is not None]

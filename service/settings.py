"""All CONSENT_* settings, read and validated in one place."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

LANGUAGES = ("fi", "sv", "en")
TOTP_POLICIES = ("none", "admins", "all")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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


def _read_env(environ: Mapping[str, str] | None) -> dict[str, str]:
    """Merge a .env file (if any) under the process environment."""
    if environ is not None:
        return dict(environ)
    from dotenv import dotenv_values

    merged = {k: v for k, v in dotenv_values(".env").items() if v is not None}
    merged.update(os.environ)
    return merged


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}.")


def _origin(name: str, raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise SettingsError(
            f"{name}: {raw!r} is not an origin; write it as https://www.example.fi "
            "(scheme and host, no path)."
        )
    return f"{parts.scheme}://{parts.netloc}".lower()


def _networks(name: str, raw: str) -> tuple[Network, ...]:
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


def _ensure_secret(data_dir: Path) -> str:
    """Return the generated signing key kept in the data dir, creating it once."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read CONSENT_* variables, apply the embedded defaults and validate them."""
    env = _read_env(environ)

    def get(name: str, default: str | None = None) -> str | None:
        value = env.get(name)
        if value is None or value.strip() == "":
            return default
        return value.strip()

    data_dir = Path(get("CONSENT_DATA_DIR", "./instance") or "./instance").resolve()

    database_url = get("CONSENT_DATABASE_URL") or f"sqlite:///{data_dir / 'consent.sqlite3'}"
    try:
        parsed = make_url(database_url)
    except ArgumentError:
        raise SettingsError(
            "CONSENT_DATABASE_URL is not a database URL: write it as "
            "postgresql+psycopg://user:password@host:5432/dbname, or leave it unset for SQLite."
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise SettingsError(
            f"CONSENT_DATABASE_URL uses {backend!r}; only postgresql+psycopg:// and sqlite:// work."
        )
    if backend == "postgresql" and parsed.drivername != "postgresql+psycopg":
        database_url = parsed.set(drivername="postgresql+psycopg").render_as_string(
            hide_password=False
        )

    raw_keys = get("CONSENT_SECRET_KEYS")
    if raw_keys:
        keys = tuple(k.strip() for k in raw_keys.split(",") if k.strip())
        short = [i for i, k in enumerate(keys) if len(k) < 16]
        if short:
            raise SettingsError(
                "CONSENT_SECRET_KEYS: every key must be at least 16 characters long "
                "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')."
            )
    elif backend == "postgresql":
        raise SettingsError(
            "CONSENT_SECRET_KEYS is required with PostgreSQL: every container must sign links "
            "with the same keys, or the links in sent emails stop working. Generate one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))' and set it everywhere."
        )
    else:
        keys = (_ensure_secret(data_dir),)

    public_url = (get("CONSENT_PUBLIC_URL", "http://127.0.0.1:8000") or "").rstrip("/")
    pu = urlsplit(public_url)
    if pu.scheme not in ("http", "https") or not pu.netloc:
        raise SettingsError(
            f"CONSENT_PUBLIC_URL must be an http(s) URL such as https://consent.example.fi, "
            f"not {public_url!r}."
        )

    smtp_url = get("CONSENT_SMTP_URL")
    if smtp_url:
        su = urlsplit(smtp_url)
        if su.scheme not in ("smtp", "smtps") or not su.hostname:
            raise SettingsError(
                "CONSENT_SMTP_URL must look like smtp://user:pass@host:587?starttls=1 "
                "or smtps://user:pass@host:465."
            )
        if not get("CONSENT_MAIL_FROM"):
            raise SettingsError(
                "CONSENT_MAIL_FROM is required once CONSENT_SMTP_URL is set: the address "
                "emails are sent from, e.g. uutiskirje@klinikka.fi."
            )
    mail_from = get("CONSENT_MAIL_FROM", "noreply@localhost") or "noreply@localhost"

    timezone = get("CONSENT_TIMEZONE", "Europe/Helsinki") or "Europe/Helsinki"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"CONSENT_TIMEZONE {timezone!r} is not a known time zone; use e.g. Europe/Helsinki."
        ) from None

    credentials = get("CONSENT_GOOGLE_CREDENTIALS")
    spreadsheet_id = get("CONSENT_SPREADSHEET_ID")
    if credentials and not spreadsheet_id:
        raise SettingsError(
            "CONSENT_SPREADSHEET_ID is required with CONSENT_GOOGLE_CREDENTIALS: copy it from "
            "the Sheet's address, docs.google.com/spreadsheets/d/<this part>/edit."
        )

    language = get("CONSENT_DEFAULT_LANGUAGE", "fi") or "fi"
    if language not in LANGUAGES:
        raise SettingsError("CONSENT_DEFAULT_LANGUAGE must be fi, sv or en.")

    origins = tuple(
        _origin("CONSENT_ALLOWED_ORIGINS", o)
        for o in (get("CONSENT_ALLOWED_ORIGINS", "") or "").split(",")
        if o.strip()
    )

    raw_proxies = get("CONSENT_TRUSTED_PROXIES", "0") or "0"
    if not raw_proxies.isdigit():
        raise SettingsError("CONSENT_TRUSTED_PROXIES must be a whole number (0 without a proxy).")

    rate = get("CONSENT_OPTIN_RATE_LIMIT", "10/minute") or "10/minute"
    try:
        from limits import parse_many

        parse_many(rate)
    except ValueError:
        raise SettingsError(
            f"CONSENT_OPTIN_RATE_LIMIT {rate!r} is not understood; write e.g. 10/minute."
        ) from None

    totp = get("CONSENT_REQUIRE_TOTP", "admins") or "admins"
    if totp not in TOTP_POLICIES:
        raise SettingsError("CONSENT_REQUIRE_TOTP must be none, admins or all.")

    lease = get("CONSENT_OUTBOX_LEASE_SECONDS", "300") or "300"
    try:
        lease_seconds = float(lease)
    except ValueError:
        raise SettingsError("CONSENT_OUTBOX_LEASE_SECONDS must be a number of seconds.") from None

    interval = get("CONSENT_MIRROR_FULL_PASS_SECONDS", "600") or "600"
    try:
        full_pass = float(interval)
    except ValueError:
        raise SettingsError(
            "CONSENT_MIRROR_FULL_PASS_SECONDS must be a number of seconds (e.g. 600)."
        ) from None

    retention: dict[str, int] = {}
    for name, default in (("CONSENT_RETENTION_PENDING_DAYS", "30"),
                          ("CONSENT_RETENTION_IP_DAYS", "365")):
        raw_days = (get(name, default) or default).strip()
        if not raw_days.isdigit() or int(raw_days) < 1:
            raise SettingsError(f"{name} must be a whole number of days, at least 1.")
        retention[name] = int(raw_days)

    checkpoint_mailto = get("CONSENT_CHECKPOINT_MAILTO")
    if checkpoint_mailto and (
        checkpoint_mailto.count("@") != 1 or any(c in checkpoint_mailto for c in " ,;<>")
    ):
        raise SettingsError(
            "CONSENT_CHECKPOINT_MAILTO must be one email address (e.g. omistaja@klinikka.fi) "
            "where the daily signed checkpoint of the ledger is mailed."
        )

    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_keys=keys,
        public_url=public_url,
        smtp_url=smtp_url,
        mail_from=mail_from,
        organization=get("CONSENT_ORGANIZATION", "Our practice") or "Our practice",
        privacy_url=get("CONSENT_PRIVACY_URL"),
        organization_address=get("CONSENT_ORGANIZATION_ADDRESS"),
        unsubscribe_mailto=get("CONSENT_UNSUBSCRIBE_MAILTO"),
        timezone=timezone,
        google_credentials=Path(credentials) if credentials else None,
        spreadsheet_id=spreadsheet_id,
        worksheet=get("CONSENT_WORKSHEET", "Markkinointirekisteri") or "Markkinointirekisteri",
        sheets_api_url=get("CONSENT_SHEETS_API_URL"),
        double_opt_in=_bool("CONSENT_DOUBLE_OPT_IN", get("CONSENT_DOUBLE_OPT_IN", "true") or ""),
        default_language=language,
        allowed_origins=origins,
        trusted_proxies=int(raw_proxies),
        optin_rate_limit=rate,
        ratelimit_storage_url=get("CONSENT_RATELIMIT_STORAGE_URL", "memory://") or "memory://",
        require_totp=totp,
        outbox_lease_seconds=lease_seconds,
        mirror_full_pass_seconds=full_pass,
        retention_pending_days=retention["CONSENT_RETENTION_PENDING_DAYS"],
        retention_ip_days=retention["CONSENT_RETENTION_IP_DAYS"],
        metrics_networks=_networks("CONSENT_METRICS_NETWORKS",
                                   get("CONSENT_METRICS_NETWORKS", "") or ""),
        checkpoint_mailto=checkpoint_mailto,
        extra={k: v for k, v in env.items() if k.startswith("CONSENT_")},
    )

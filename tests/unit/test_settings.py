"""Settings are validated at start with a message that says what to fix."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from service.settings import (
    SETTINGS,
    Settings,
    SettingsError,
    load_settings,
    settings_page_rows,
)


def test_zero_configuration_uses_sqlite_and_a_generated_secret_in_the_data_dir(
    tmp_path: Path,
) -> None:
    first = load_settings({"CONSENT_DATA_DIR": str(tmp_path)})
    again = load_settings({"CONSENT_DATA_DIR": str(tmp_path)})
    assert first.is_sqlite and str(tmp_path) in first.database_url
    assert first.secret_keys == again.secret_keys, "the generated key is kept"
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0, "only the owner reads it"
    assert first.double_opt_in and first.default_language == "fi"
    assert first.worksheet == "Markkinointirekisteri"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CONSENT_DATABASE_URL": "not a url"}, "CONSENT_DATABASE_URL"),
        ({"CONSENT_DATABASE_URL": "mysql://x@y/z"}, "CONSENT_DATABASE_URL"),
        ({"CONSENT_DATABASE_URL": "postgresql+psycopg://x@y/z"}, "CONSENT_SECRET_KEYS"),
        ({"CONSENT_SMTP_URL": "smtp://mail.example.fi:587"}, "CONSENT_MAIL_FROM"),
        ({"CONSENT_SMTP_URL": "http://mail.example.fi"}, "CONSENT_SMTP_URL"),
        ({"CONSENT_DEFAULT_LANGUAGE": "de"}, "CONSENT_DEFAULT_LANGUAGE"),
        ({"CONSENT_DOUBLE_OPT_IN": "perhaps"}, "CONSENT_DOUBLE_OPT_IN"),
        ({"CONSENT_ALLOWED_ORIGINS": "klinikka.fi"}, "CONSENT_ALLOWED_ORIGINS"),
        ({"CONSENT_TRUSTED_PROXIES": "-1"}, "CONSENT_TRUSTED_PROXIES"),
        ({"CONSENT_OPTIN_RATE_LIMIT": "lots"}, "CONSENT_OPTIN_RATE_LIMIT"),
        ({"CONSENT_TIMEZONE": "Mars/Olympus"}, "CONSENT_TIMEZONE"),
        ({"CONSENT_REQUIRE_TOTP": "sometimes"}, "CONSENT_REQUIRE_TOTP"),
        ({"CONSENT_SECRET_KEYS": "short"}, "CONSENT_SECRET_KEYS"),
        ({"CONSENT_PUBLIC_URL": "consent.example.fi"}, "CONSENT_PUBLIC_URL"),
        ({"CONSENT_GOOGLE_CREDENTIALS": "/x.json"}, "CONSENT_SPREADSHEET_ID"),
    ],
)
def test_bad_setting_is_refused_with_a_message_naming_it(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings({"CONSENT_DATA_DIR": str(tmp_path), **env})


def test_postgresql_with_keys_and_origins_is_accepted(tmp_path: Path) -> None:
    settings = load_settings({
        "CONSENT_DATA_DIR": str(tmp_path),
        "CONSENT_DATABASE_URL": "postgresql://u:p@db:5432/consent",
        "CONSENT_SECRET_KEYS": "old-key-0123456789abc, new-key-0123456789abc",
        "CONSENT_ALLOWED_ORIGINS": "https://Klinikka.example.fi/, https://www.example.fi",
    })
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.secret_keys == ("old-key-0123456789abc", "new-key-0123456789abc")
    assert settings.allowed_origins == ("https://klinikka.example.fi", "https://www.example.fi")
    assert not (tmp_path / "secret_key").exists()


def test_every_field_of_the_settings_comes_from_exactly_one_declared_variable() -> None:
    filled = [setting.attribute for setting in SETTINGS]
    assert sorted(filled) == sorted(f.name for f in fields(Settings) if f.name != "extra")
    assert len({setting.name for setting in SETTINGS}) == len(SETTINGS)
    assert all(setting.name.startswith("CONSENT_") for setting in SETTINGS)


def test_a_blank_variable_counts_as_unset(tmp_path: Path) -> None:
    settings = load_settings({"CONSENT_DATA_DIR": str(tmp_path), "CONSENT_TIMEZONE": "  ",
                              "CONSENT_DOUBLE_OPT_IN": "", "CONSENT_SMTP_URL": " "})
    assert settings.timezone == "Europe/Helsinki" and settings.double_opt_in
    assert settings.smtp_url is None and settings.mail_from == "noreply@localhost"


def test_the_settings_page_shows_the_configuration_in_force(tmp_path: Path) -> None:
    settings = load_settings({
        "CONSENT_DATA_DIR": str(tmp_path),
        "CONSENT_ORGANIZATION": "Kiropraktikko Virtanen",
        "CONSENT_DOUBLE_OPT_IN": "no",
        "CONSENT_ALLOWED_ORIGINS": "https://www.klinikka.fi, https://klinikka.fi",
        "CONSENT_GOOGLE_CREDENTIALS": "/run/secrets/google.json",
        "CONSENT_SPREADSHEET_ID": "1AbC",
    })
    assert dict(settings_page_rows(settings)) == {
        "CONSENT_DATABASE_URL": "SQLite",
        "CONSENT_PUBLIC_URL": "http://127.0.0.1:8000",
        "CONSENT_SMTP_URL": "unset (.eml files)",
        "CONSENT_MAIL_FROM": "noreply@localhost",
        "CONSENT_ORGANIZATION": "Kiropraktikko Virtanen",
        "CONSENT_PRIVACY_URL": "unset",
        "CONSENT_ORGANIZATION_ADDRESS": "unset",
        "CONSENT_TIMEZONE": "Europe/Helsinki",
        "CONSENT_GOOGLE_CREDENTIALS": "set",
        "CONSENT_WORKSHEET": "Markkinointirekisteri",
        "CONSENT_DOUBLE_OPT_IN": "false",
        "CONSENT_DEFAULT_LANGUAGE": "fi",
        "CONSENT_ALLOWED_ORIGINS": "https://www.klinikka.fi, https://klinikka.fi",
        "CONSENT_REQUIRE_TOTP": "admins",
    }


def test_the_settings_page_shows_secrets_only_as_set_never_their_value(tmp_path: Path) -> None:
    given = {
        "CONSENT_DATABASE_URL": "postgresql://consent:db-password@db:5432/consent",
        "CONSENT_SECRET_KEYS": "signing-key-0123456789abc",
        "CONSENT_SMTP_URL": "smtp://user:mail-password@smtp.example.eu:587",
        "CONSENT_RATELIMIT_STORAGE_URL": "redis://:redis-password@redis:6379/0",
    }
    assert set(given) == {setting.name for setting in SETTINGS if setting.secret}
    settings = load_settings({"CONSENT_DATA_DIR": str(tmp_path),
                              "CONSENT_MAIL_FROM": "uutiskirje@klinikka.fi", **given})
    rows = dict(settings_page_rows(settings))
    assert rows["CONSENT_DATABASE_URL"] == "PostgreSQL" and rows["CONSENT_SMTP_URL"] == "set"
    shown = " ".join(rows.values())
    for secret in ("db-password", "signing-key", "mail-password", "redis-password"):
        assert secret not in shown

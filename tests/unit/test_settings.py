"""Settings are validated at start with a message that says what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import SettingsError, load_settings


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

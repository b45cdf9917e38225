"""compose.yaml and the Dockerfile give an operator a stack that runs as it is.

No Docker daemon runs here: the files are read as Docker would read them. Running the image's
command line itself is tests/e2e/test_image_command.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from service.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
# Set by the stack itself, not by the operator's .env.
FIXED_BY_THE_STACK = {"CONSENT_DATA_DIR", "CONSENT_DATABASE_URL", "CONSENT_RATELIMIT_STORAGE_URL"}


def declared_settings() -> set[str]:
    """Return every CONSENT_* setting the service declares (the README's table lists the same)."""
    return {setting.name for setting in SETTINGS}


def compose() -> dict[str, Any]:
    """Return compose.yaml as Compose reads it (YAML merge keys resolved)."""
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def dockerfile() -> str:
    """Return the Dockerfile with its line continuations joined."""
    return (ROOT / "Dockerfile").read_text().replace("\\\n", " ")


def test_every_documented_setting_reaches_the_web_and_the_worker() -> None:
    services = compose()["services"]
    for name in ("web", "worker"):
        environment = services[name]["environment"]
        missing = declared_settings() - set(environment)
        assert not missing, f"{name} never gets {sorted(missing)}"
        for setting in declared_settings() - FIXED_BY_THE_STACK:
            assert f"${{{setting}" in str(environment[setting]), \
                f"{name}: {setting} does not come from the operator's .env"


def test_compose_passes_only_settings_the_service_declares() -> None:
    services = compose()["services"]
    for name in ("web", "worker", "migrate", "backup"):
        passed = {key for key in services[name]["environment"] if key.startswith("CONSENT_")}
        unknown = passed - declared_settings()
        assert not unknown, f"{name} gets {sorted(unknown)}, which the service never reads"


def test_the_web_the_worker_the_database_and_redis_check_their_health_and_restart() -> None:
    services = compose()["services"]
    for name in ("db", "redis", "web", "worker"):
        assert services[name]["healthcheck"]["test"], f"{name} has no healthcheck"
        assert services[name]["restart"] == "unless-stopped", f"{name} is not restarted"
    web_check = " ".join(services["web"]["healthcheck"]["test"])
    assert "/healthz" in web_check and "/readyz" in web_check
    for name in ("web", "worker"):
        needs = services[name]["depends_on"]
        assert needs["db"]["condition"] == "service_healthy"
        assert needs["redis"]["condition"] == "service_healthy"
        assert needs["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["restart"] == "no"


def test_data_is_a_volume_and_the_google_key_a_secret() -> None:
    stack = compose()
    for name in ("web", "worker", "backup"):
        service = stack["services"][name]
        assert "data:/data" in service["volumes"], f"{name}'s /data (the erasure journal) " \
            "would vanish with its container"
    for name in ("web", "worker"):
        secrets = stack["services"][name]["secrets"]
        assert {"source": "google-service-account",
                "target": "google-service-account.json"} in secrets
    assert "data" in stack["volumes"]
    assert "google-service-account" in stack["secrets"]


def test_the_base_image_is_pinned_to_an_exact_python_release() -> None:
    text = dockerfile()
    bases = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert bases and all(re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", b) for b in bases)


def test_the_image_checks_its_health_and_counts_requests_across_gunicorn_workers() -> None:
    text = dockerfile()
    assert re.search(r"^HEALTHCHECK .*CMD .*/healthz", text, re.MULTILINE)
    assert "PROMETHEUS_MULTIPROC_DIR=" in text
    assert "/tmp/consent-metrics" in compose()["services"]["web"]["tmpfs"]


def test_the_database_is_not_newer_than_the_images_pg_dump() -> None:
    # Debian bookworm's postgresql-client is 15; pg_dump refuses a newer server.
    assert "bookworm" in re.findall(r"^FROM (\S+)", dockerfile(), re.MULTILINE)[0]
    assert "postgresql-client" in dockerfile()
    assert compose()["services"]["db"]["image"].startswith("postgres:15")

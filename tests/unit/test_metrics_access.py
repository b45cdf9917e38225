"""Who may read /metrics without a key: callers from CONSENT_METRICS_NETWORKS, nobody else."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import SettingsError, load_settings
from service.web.metrics import from_allowed_network


def test_no_network_is_trusted_by_default(tmp_path: Path) -> None:
    settings = load_settings({"CONSENT_DATA_DIR": str(tmp_path)})
    assert settings.metrics_networks == ()
    assert not from_allowed_network(settings, "127.0.0.1")


def test_callers_inside_a_listed_network_are_let_in_and_others_not(tmp_path: Path) -> None:
    settings = load_settings({"CONSENT_DATA_DIR": str(tmp_path),
                              "CONSENT_METRICS_NETWORKS": "10.0.5.0/24, fd00::/8,192.168.1.20"})
    assert from_allowed_network(settings, "10.0.5.77")
    assert from_allowed_network(settings, "::ffff:10.0.5.8"), "IPv4 written as IPv6"
    assert from_allowed_network(settings, "fd00::1")
    assert from_allowed_network(settings, "192.168.1.20")
    assert not from_allowed_network(settings, "192.168.1.21")
    assert not from_allowed_network(settings, "10.0.6.1")
    assert not from_allowed_network(settings, "unknown")
    assert not from_allowed_network(settings, None)


def test_a_network_that_is_not_one_is_refused_at_start_naming_the_setting(
    tmp_path: Path,
) -> None:
    with pytest.raises(SettingsError, match="CONSENT_METRICS_NETWORKS"):
        load_settings({"CONSENT_DATA_DIR": str(tmp_path),
                       "CONSENT_METRICS_NETWORKS": "10.0.0.0/33"})

"""The staff home page's overview: the register at a glance, and the settings a practice has
still to set before its name, address and privacy notice reach the people it writes to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.domain import figures
from service.settings import SETTINGS, Settings
from service.web.current import container

# What people read as the practice's own (README, "Configuration"): left at their defaults,
# the form and mail say "Our practice" from noreply@localhost with no privacy notice.
PRACTICE_SETTINGS = ("CONSENT_ORGANIZATION", "CONSENT_MAIL_FROM", "CONSENT_PRIVACY_URL")


@dataclass(frozen=True)
class MirrorState:
    """The register copy's state in one word for the page, and its last success."""

    state: str  # ok, catching_up, retrying, attention or never
    last_success: str | None  # ISO time
    on_sheet: bool  # a Google Sheet, not the local file


def settings_to_set(settings: Settings) -> list[tuple[str, Any]]:
    """Return the practice's settings still at their defaults, with the value they have."""
    declared = {s.name: s for s in SETTINGS}
    left = []
    for name in PRACTICE_SETTINGS:
        setting = declared[name]
        default = None if setting.default is None else setting.parse(name, setting.default)
        value = getattr(settings, setting.attribute)
        if value == default:
            left.append((name, value))
    return left


def mirror_state(mirror: dict[str, Any], *, on_sheet: bool) -> MirrorState:
    """Say how the register copy stands from its status row (see mirror.status)."""
    if mirror.get("last_error"):
        state = "attention" if mirror.get("needs_attention") else "retrying"
    elif not mirror.get("last_success"):
        state = "never"
    elif float(mirror.get("lag_seconds") or 0) > 0:
        state = "catching_up"
    else:
        state = "ok"
    return MirrorState(state, mirror.get("last_success"), on_sheet)


def overview() -> dict[str, Any]:
    """Return what the home page shows at a glance (one short read of the database)."""
    app_container = container()
    read = figures.read_overview(app_container.uow(), now=app_container.clock.now())
    settings = app_container.settings
    return {
        "overview": read,
        "mirror": mirror_state(read.mirror, on_sheet=settings.google_credentials is not None),
        "to_set": settings_to_set(settings),
    }

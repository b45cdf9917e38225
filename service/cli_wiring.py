"""The CLI's composition root: settings from the environment and the container built from them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from service.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from service.bootstrap import Container


def settings() -> Settings:
    """Return the settings, or stop the command naming what is wrong with them."""
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


def container(migrate: bool | None = None) -> Container:
    """Build the container for one command, or stop it saying why it cannot be built."""
    # Imported here: `consent --help` and commands that need no database stay quick.
    from service.bootstrap import build

    try:
        return build(settings(), migrate=migrate)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None

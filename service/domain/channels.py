"""The ways to reach a person (email, text message) and the one reader of a `channels` field."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Channel(enum.StrEnum):
    """A way to reach a person."""

    EMAIL = "email"
    SMS = "sms"


# Every channel, in the order pages, registers and answers list them.
CHANNELS: tuple[str, ...] = tuple(c.value for c in Channel)


class ChannelsProblem(enum.StrEnum):
    """What is wrong with a `channels` field; each caller words it for its own answer."""

    NONE_CHOSEN = "none_chosen"
    NOT_A_LIST = "not_a_list"
    UNKNOWN_CHANNEL = "unknown_channel"


@dataclass(frozen=True)
class ChannelsRead:
    """The channels a field names (each once, in the order given), or what is wrong with it."""

    channels: tuple[str, ...] = ()
    problem: ChannelsProblem | None = None


def read_channels(raw: object, *, as_typed: bool = False) -> ChannelsRead:
    """Read a `channels` field: a list of channel names, or one name as text.

    An absent or empty field (None, "", []) chooses none. as_typed reads the field as people
    type it on a website's form: text may name several channels (commas or spaces between) and
    each name may have any case and surrounding spaces; otherwise (staff pages and programs)
    names must be exact and text is one name.
    """
    if raw is None or raw == "" or raw == []:
        return ChannelsRead(problem=ChannelsProblem.NONE_CHOSEN)
    values: list[object]
    if isinstance(raw, str):
        values = [v for v in raw.replace(" ", ",").split(",") if v] if as_typed else [raw]
    elif isinstance(raw, list | tuple):
        values = list(raw)
    else:
        return ChannelsRead(problem=ChannelsProblem.NOT_A_LIST)
    chosen: list[str] = []
    for value in values:
        name = value.strip().lower() if as_typed and isinstance(value, str) else value
        if not isinstance(name, str) or name not in CHANNELS:
            return ChannelsRead(problem=ChannelsProblem.UNKNOWN_CHANNEL)
        if name not in chosen:
            chosen.append(name)
    return ChannelsRead(tuple(chosen))


def in_channel_order(channels: Iterable[str]) -> tuple[str, ...]:
    """Return the known channels among these, each once, in CHANNELS order."""
    wanted = set(channels)
    return tuple(c for c in CHANNELS if c in wanted)

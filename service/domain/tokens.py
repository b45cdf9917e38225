"""Signed, purpose-scoped tokens for links in emails."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from itsdangerous import (
    BadData,
    SignatureExpired,
    TimestampSigner,
    URLSafeSerializer,
    URLSafeTimedSerializer,
)

from service.domain.ports import Clock


class Purpose(enum.StrEnum):
    """What a token may be used for; each purpose has its own salt."""

    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    RESUBSCRIBE = "resubscribe"
    DISPUTE = "dispute"


# How long a timed token of each purpose stays valid; absent means never expires.
LIFETIMES: dict[Purpose, timedelta] = {
    Purpose.CONFIRM: timedelta(days=7),
    Purpose.RESUBSCRIBE: timedelta(hours=1),
}


class InvalidToken(Exception):
    """A token that is forged, tampered with, of another purpose or unknown key."""


class ExpiredToken(InvalidToken):
    """A genuine timed token past its lifetime."""


def _clocked_signer(clock: Clock) -> type[TimestampSigner]:
    """Return a timestamp signer that reads the service's clock (tests move it)."""

    class ClockedSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock.now().timestamp())

    return ClockedSigner


class TokenService:
    """Sign and check tokens: the last key signs, every key verifies."""

    def __init__(self, secret_keys: Sequence[str], clock: Clock) -> None:
        """Keep the keys (oldest first) and the clock used for timed tokens."""
        if not secret_keys:
            raise ValueError("at least one secret key is needed")
        self._keys = list(secret_keys)
        self._signer = _clocked_signer(clock)

    def _serializer(self, purpose: Purpose) -> URLSafeSerializer | URLSafeTimedSerializer:
        if purpose in LIFETIMES:
            return URLSafeTimedSerializer(
                self._keys, salt=f"consent.{purpose.value}", signer=self._signer
            )
        return URLSafeSerializer(self._keys, salt=f"consent.{purpose.value}")

    def sign(self, purpose: Purpose, payload: dict[str, Any]) -> str:
        """Return a token for the purpose carrying opaque ids only."""
        return str(self._serializer(purpose).dumps(payload))

    def verify(self, purpose: Purpose, token: str) -> dict[str, Any]:
        """Return the payload of a valid token of this purpose or raise InvalidToken."""
        serializer = self._serializer(purpose)
        try:
            if isinstance(serializer, URLSafeTimedSerializer):
                max_age = int(LIFETIMES[purpose].total_seconds())
                payload = serializer.loads(token, max_age=max_age)
            else:
                payload = serializer.loads(token)
        except SignatureExpired:
            raise ExpiredToken(purpose.value) from None
        except (BadData, UnicodeError, ValueError):
            raise InvalidToken(purpose.value) from None
        if not isinstance(payload, dict):
            raise InvalidToken(purpose.value)
        return payload

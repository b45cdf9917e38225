"""What access logs (werkzeug's and gunicorn's) must not keep: secrets and personal links' tokens.

A form source's secret may come in the URL (`?secret=`, for plugins that cannot set headers),
and every personal link (confirm, unsubscribe, dispute, resubscribe) carries a signed token in
its path: whoever reads a log line holding either could use it.
"""

from __future__ import annotations

import logging
import re

SECRET_PARAM = "secret"  # noqa: S105 - a parameter name, not a secret
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")
_SECRET_IN_URL = re.compile(r"((?:^|\?|&|%3F|%26)" + SECRET_PARAM + r"=)[^&\s\"']*",
                            re.IGNORECASE)
_TOKEN_IN_PATH = re.compile(r"(/(?:confirm|dispute|resubscribe|unsubscribe)/)[A-Za-z0-9_.\-]+")


def redact(text: str) -> str:
    """Hide a ?secret= parameter ([redacted]) and a personal link's token ([token])."""
    return _TOKEN_IN_PATH.sub(r"\1[token]", _SECRET_IN_URL.sub(r"\1[redacted]", text))


class RedactingFilter(logging.Filter):
    """Redact access-log records in their message and arguments; never drop one."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place and keep it."""
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, dict):
            # Gunicorn passes its own dict type (missing atoms read as "-"): change it in place.
            for key, value in list(record.args.items()):
                if isinstance(value, str):
                    record.args[key] = redact(value)
        elif isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_redaction() -> None:
    """Add the redacting filter to the access loggers, once."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())

"""What access logs (werkzeug's and gunicorn's) must not keep: secrets, tokens, personal data.

A form source's secret may come in the URL (`?secret=`, for plugins that cannot set headers),
every personal link (confirm, unsubscribe, dispute, resubscribe) carries a signed token in its
path, and a staff search (`?q=`) or an API lookup (`?email=`) made with a GET carries an
address, a name or a phone number: whoever reads a log line holding any of them could use it.

The server percent-decodes a path before routing it and a query's names before reading them,
so `/unsubscribe/abc%2Edef` is the token `abc.def` and `?%73ecret=` is `?secret=`. Redaction
therefore looks at the decoded text, and replaces what it hides in the line as logged.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

SECRET_PARAM = "secret"  # noqa: S105 - a parameter name, not a secret
# Query parameters whose values never reach a log: a form source's secret, a staff search's
# words, an API lookup's address.
REDACTED_PARAMS = frozenset({SECRET_PARAM, "q", "email"})
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")

_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
# On the decoded text: a personal link's token is the path segment after the route's name.
_TOKEN_IN_PATH = re.compile(r"(/(?:confirm|dispute|resubscribe|unsubscribe)/)([^/?#\s\"']+)",
                            re.IGNORECASE)
# On the text as logged: a name=value pair of a query. A value ends at a literal separator only:
# an encoded one (%26) is part of the value, as the server reads it. A string that starts with
# a pair is a query on its own (gunicorn's %(q)s).
_QUERY_PARAM = re.compile(r"(?P<lead>^|[?&])(?P<name>[^=&?#\s\"']+)=(?P<value>[^&#\s\"']*)")


def _decode_path(text: str) -> tuple[str, list[int]]:
    """Percent-decode text once as a server decodes a path; also say where each char began.

    An escape that decodes to a character ending a path in a log line (?, #, a quote, a
    space) is not a separator to the server: it decodes to a neutral character instead.
    """
    chars: list[str] = []
    starts: list[int] = []
    i = 0
    while i < len(text):
        starts.append(i)
        escape = _PERCENT.match(text, i) if text[i] == "%" else None
        if escape is None:
            chars.append(text[i])
            i += 1
            continue
        char = chr(int(escape.group(1), 16))
        chars.append("_" if char in "?#\"'" or char.isspace() else char)
        i += 3
    starts.append(len(text))
    return "".join(chars), starts


def _redact_tokens(text: str) -> str:
    """Replace each personal link's token, however it is encoded, with [token]."""
    decoded, starts = _decode_path(text)
    pieces: list[str] = []
    done = 0
    for found in _TOKEN_IN_PATH.finditer(decoded):
        # The route's name is written decoded, so the line still says which link it was.
        pieces += [text[done:starts[found.start()]], found.group(1), "[token]"]
        done = starts[found.end()]
    pieces.append(text[done:])
    return "".join(pieces)


def _redact_params(text: str) -> str:
    """Replace the value of each sensitive query parameter, its name decoded, with [redacted].

    A value that itself holds such a parameter once decoded (a `next=` URL) is hidden whole.
    """

    def hide(found: re.Match[str]) -> str:
        name = unquote_plus(found.group("name")).strip().lower()
        value = found.group("value")
        if name in REDACTED_PARAMS:
            value = "[redacted]"
        elif "%" in value:
            decoded = unquote_plus(value)
            if redact(decoded) != decoded:
                value = "[redacted]"
        return f"{found.group('lead')}{found.group('name')}={value}"

    return _QUERY_PARAM.sub(hide, text)


def redact(text: str) -> str:
    """Hide sensitive query values ([redacted]) and personal links' tokens ([token])."""
    return _redact_tokens(_redact_params(text))


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

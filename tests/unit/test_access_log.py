"""Access logs keep neither form sources' secrets nor personal links' tokens."""

from __future__ import annotations

import logging

from service.web.access_log import RedactingFilter


def test_secret_query_parameter_is_redacted_in_gunicorn_access_records() -> None:
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '%(r)s %(s)s',
                               None, None)
    record.args = {"r": "POST /webhooks/forms/el?secret=abc123&x=1 HTTP/1.1", "s": "200",
                   "q": "secret=abc123"}
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "POST /webhooks/forms/el?secret=[redacted]&x=1 HTTP/1.1 200"
    assert isinstance(record.args, dict) and record.args["q"] == "secret=[redacted]"


def test_personal_link_tokens_are_redacted_in_access_records() -> None:
    token = "eyJjIjoiM2YwYyIsImNoIjoiZW1haWwifQ.Zk9x-1_a"
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '%(r)s %(s)s',
                               None, None)
    record.args = {"r": f"POST /unsubscribe/{token}/reason HTTP/1.1", "s": "200"}
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "POST /unsubscribe/[token]/reason HTTP/1.1 200"
    for path in (f"/confirm/{token}", f"/dispute/{token}", f"/resubscribe/{token}"):
        werkzeug_line = logging.LogRecord("werkzeug", logging.INFO, __file__, 1,
                                          '"%s" %s -', (f"GET {path} HTTP/1.1", "200"), None)
        assert RedactingFilter().filter(werkzeug_line)
        assert token not in werkzeug_line.getMessage()
        assert "/[token]" in werkzeug_line.getMessage()
    # The page that asks for a link has no token to hide.
    plain = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '"%s" %s -',
                              ("GET /unsubscribe HTTP/1.1", "200"), None)
    assert RedactingFilter().filter(plain)
    assert plain.getMessage() == '"GET /unsubscribe HTTP/1.1" 200 -'

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


def _werkzeug_line(request_line: str) -> str:
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '"%s" %s -',
                               (request_line, "200"), None)
    assert RedactingFilter().filter(record)
    return record.getMessage()


def test_a_token_is_hidden_whole_however_its_characters_are_percent_encoded() -> None:
    token = "eyJjIjoiM2YwYyIsImNoIjoiZW1haWwifQ.Zk9x-1_a"
    for sent in (token.replace(".", "%2E"), token.replace("e", "%65"),
                 token.replace(".", "%3F"), token.replace("Z", "%20")):
        line = _werkzeug_line(f"POST /unsubscribe/{sent}/reason HTTP/1.1")
        assert line == '"POST /unsubscribe/[token]/reason HTTP/1.1" 200 -', sent
    # The route's own name may be encoded too: the server decodes it before routing.
    line = _werkzeug_line(f"GET /%75nsubscribe%2F{token} HTTP/1.1")
    assert token not in line and "Zk9x" not in line
    assert line == '"GET /unsubscribe/[token] HTTP/1.1" 200 -'


def test_a_secret_under_a_percent_encoded_parameter_name_is_redacted() -> None:
    for name in ("%73ecret", "SECRET", "s%65cr%65t"):
        line = _werkzeug_line(f"POST /webhooks/forms/el?x=1&{name}=abc123 HTTP/1.1")
        assert "abc123" not in line, name
        assert f"&{name}=[redacted]" in line


def test_staff_search_words_and_api_lookup_addresses_are_redacted() -> None:
    search = _werkzeug_line("GET /staff/contacts?q=maija+meik%C3%A4l%C3%A4inen HTTP/1.1")
    assert search == '"GET /staff/contacts?q=[redacted] HTTP/1.1" 200 -'
    lookup = _werkzeug_line("GET /api/v1/contacts?email=maija%40example.fi&x=1 HTTP/1.1")
    assert lookup == '"GET /api/v1/contacts?email=[redacted]&x=1 HTTP/1.1" 200 -'
    # An encoded separator is part of the value, as the server reads it: all of it is hidden.
    split = _werkzeug_line("GET /api/v1/contacts?email=maija%26pekka@example.fi HTTP/1.1")
    assert "pekka" not in split and "maija" not in split
    # A URL carried in another parameter (a login's next=) hides what it carries.
    nested = _werkzeug_line("GET /staff/login?next=%2Fstaff%2Fcontacts%3Fq%3Dmaija HTTP/1.1")
    assert "maija" not in nested
    # Harmless parameters stay readable.
    assert _werkzeug_line("GET /subscribe?lang=sv HTTP/1.1") == \
        '"GET /subscribe?lang=sv HTTP/1.1" 200 -'

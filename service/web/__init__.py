"""The Flask app: public pages, the API, webhooks and the staff pages."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from flask import Flask, Request, Response, current_app, g, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from service.bootstrap import Container, build
from service.domain.links import LinkNotUsable
from service.domain.normalize import InvalidInput
from service.settings import Settings, load_settings
from service.web import access_log, answers, current, inputs, links, metrics, translation
from service.web.extensions import csrf, limiter, limiter_config
from service.web.staff.pages import ABSOLUTE_TIMEOUT

log = logging.getLogger("consent.web")

MAX_BODY = 64 * 1024


class BodyKeepingRequest(Request):
    """A request whose body is read once and kept, whatever parses it first.

    Werkzeug's form parser consumes the input stream: once anything (the page-language choice,
    CSRF, a handler) has read ``request.form``, ``get_data()`` returns nothing. A webhook must
    see the bytes that arrived (to check a signature and to recognise a redelivery), so the body
    (at most MAX_CONTENT_LENGTH) is read into memory first and the form is parsed from that copy.
    """

    def _load_form_data(self) -> None:
        if "form" not in self.__dict__:
            self.get_data(cache=True)
        super()._load_form_data()


class CookieSessionOnDemand(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with its signer built only when a cookie is there.

    Flask builds the session's signer for every request, a session cookie or not; only the
    staff pages have one, and the public pages and the APIs are the requests that count.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Start an empty session when the request has no session cookie, else read it."""
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def create_app(
    settings: Settings | None = None, *, container: Container | None = None
) -> Flask:
    """Build the web app around a container (built from the environment when not given)."""
    if container is None:
        container = build(settings or load_settings())
    settings = container.settings
    app = Flask(__name__)
    app.request_class = BodyKeepingRequest
    app.session_interface = CookieSessionOnDemand()
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY,
        SECRET_KEY=settings.secret_keys[-1],
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url_is_https,
        JSON_SORT_KEYS=False,
        # The cookie expires with the longest a staff session may last.
        PERMANENT_SESSION_LIFETIME=ABSOLUTE_TIMEOUT,
        # CSRF is checked by the staff pages themselves (service.web.staff).
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=int(ABSOLUTE_TIMEOUT.total_seconds()),
        **limiter_config(settings),
    )
    app.json = inputs.BoundedJsonProvider(app)
    app.extensions[current.EXTENSION] = container
    access_log.install_redaction()
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies
        )
    # Before the limiter's check: a request with control characters is refused uncounted.
    app.before_request(inputs.refuse_control_characters)
    limiter.init_app(app)
    csrf.init_app(app)
    translation.init_app(app)
    _install_hooks(app)
    _register_error_handlers(app)
    _register_blueprints(app)
    return app


def _start_clock() -> None:
    """Note when the request started, for its latency."""
    g.request_started = time.perf_counter()


def _measure(response: Response) -> Response:
    """Count the answered request: its latency, and a refusal by a rate limit."""
    started = g.get("request_started")
    metrics.observe(request, response,
                    None if started is None else time.perf_counter() - started)
    return response


def _choose_language() -> None:
    """Pick the page language of this request."""
    g.language = answers.page_language(current.settings().default_language)


def _security_headers(response: Response) -> Response:
    """Add the security headers every answer carries."""
    return answers.secure(response, current.settings())


def _install_hooks(app: Flask) -> None:
    """Time every request, choose its language and secure every answer."""
    # First of all before-request hooks: a request refused by the rate limiter's hook is
    # timed too.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_clock)
    app.after_request(_measure)
    app.before_request(_choose_language)
    app.after_request(_security_headers)


def _rate_limited(_exc: RateLimitExceeded) -> Any:
    """Answer 429, saying when the breached limit's window ends."""
    body, status = answers.problem(429, "rate_limited", "error.rate_limited")
    response = current_app.make_response((body, status))
    breached = limiter.current_limit
    if breached is not None:
        wait = math.ceil(breached.window.reset_time - time.time())
        response.headers["Retry-After"] = str(max(1, wait))
    return response


def _unexpected(_exc: Exception) -> Any:
    """Log an error no handler expected and answer 500 without its details."""
    # The route, not the path: paths carry personal links' tokens.
    rule = request.url_rule.rule if request.url_rule is not None else "(no route)"
    log.exception("unexpected error on %s %s", request.method, rule)
    return answers.problem(500, "internal_error", "error.generic_title")


def _register_error_handlers(app: Flask) -> None:
    """Answer each kind of error once for the whole app, in the caller's format."""
    app.register_error_handler(InvalidInput, answers.invalid_input)
    app.register_error_handler(LinkNotUsable, links.unusable)
    app.register_error_handler(RateLimitExceeded, _rate_limited)
    app.register_error_handler(HTTPException, answers.http_error)
    app.register_error_handler(Exception, _unexpected)


def _register_blueprints(app: Flask) -> None:
    """Register every blueprint."""
    from service.web import (
        api,
        dispute,
        health,
        openapi,
        public,
        staff,
        staff_api,
        unsubscribe,
        webhooks,
    )

    for module in (public, health, openapi, unsubscribe, api, webhooks, staff, staff_api,
                   dispute, metrics):
        app.register_blueprint(module.bp)

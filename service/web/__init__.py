"""The Flask app: public pages, the API and, later, the staff pages."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from flask import Flask, Request, Response, g, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from service.bootstrap import Container, build
from service.domain.normalize import InvalidInput
from service.settings import Settings, load_settings
from service.web import access_log, answers, inputs, ratelimit

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


def client_ip() -> str:
    """Return the caller's IP (after the trusted proxies, if any)."""
    return request.remote_addr or "unknown"


def create_app(
    settings: Settings | None = None, *, container: Container | None = None
) -> Flask:
    """Build the web app around a container (built from the environment when not given)."""
    if container is None:
        container = build(settings or load_settings())
    settings = container.settings
    app = Flask(__name__)
    app.request_class = BodyKeepingRequest
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY,
        SECRET_KEY=settings.secret_keys[-1],
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url_is_https,
        JSON_SORT_KEYS=False,
    )
    app.json = inputs.BoundedJsonProvider(app)
    app.before_request(inputs.refuse_control_characters)
    app.extensions["consent"] = container
    access_log.install_redaction()
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies
        )

    limiter = Limiter(
        key_func=client_ip,
        app=app,
        # A shared storage (Redis) that stops answering is replaced by in-process counters
        # until it answers again (ratelimit.FallbackStorage): limits never switch off.
        storage_uri=ratelimit.storage_uri(settings.ratelimit_storage_url),
        storage_options=ratelimit.storage_options(settings.ratelimit_storage_url),
        # Fixed windows: the only strategy the zero-config storage (service/web/ratelimit.py) has.
        strategy="fixed-window",
        default_limits=[],
        # No X-RateLimit-* headers on every answer: they cost a storage round trip per request
        # (Redis in production). A refused request still says when to retry (below).
        headers_enabled=False,
        # No error is swallowed: a storage error reaching the limiter would be a bug, and
        # swallowing it would switch every limit (the login throttle included) off unseen.
        swallow_errors=False,
    )
    app.extensions["consent.limiter"] = limiter

    from service.web import health, openapi, public

    app.register_blueprint(public.build_blueprint(container, limiter))
    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    from service.web import api as api_web
    from service.web import unsubscribe as unsubscribe_web
    app.register_blueprint(unsubscribe_web.build_blueprint(container, limiter))
    app.register_blueprint(api_web.build_blueprint(container, limiter))
    from service.web import webhooks as webhooks_web
    app.register_blueprint(webhooks_web.build_blueprint(container, limiter))
    from service.web import staff as staff_web

    staff_web.init_app(app, container, limiter)
    from service.web import metrics

    app.register_blueprint(metrics.bp)

    def _start_clock() -> None:
        g.request_started = time.perf_counter()

    # First of all before-request hooks: a request refused by the rate limiter's hook is
    # timed too.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_clock)

    @app.after_request
    def _measure(response: Response) -> Response:
        started = g.get("request_started")
        metrics.observe(request, response,
                        None if started is None else time.perf_counter() - started)
        return response

    @app.before_request
    def _remember_start() -> None:
        g.language = answers.page_language(container.settings.default_language)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        return answers.secure(response, container.settings)

    @app.errorhandler(InvalidInput)
    def _invalid(exc: InvalidInput) -> Any:
        return answers.invalid_input(exc)

    @app.errorhandler(RateLimitExceeded)
    def _limited(exc: RateLimitExceeded) -> Any:
        body, status = answers.problem(429, "rate_limited", "error.rate_limited")
        response = app.make_response((body, status))
        breached = limiter.current_limit
        if breached is not None:
            wait = math.ceil(breached.window.reset_time - time.time())
            response.headers["Retry-After"] = str(max(1, wait))
        return response

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        return answers.http_error(exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        # The route, not the path: paths carry personal links' tokens.
        rule = request.url_rule.rule if request.url_rule is not None else "(no route)"
        log.exception("unexpected error on %s %s", request.method, rule)
        return answers.problem(500, "internal_error", "error.generic_title")

    return app

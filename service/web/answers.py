"""Answers in the caller's format: JSON for API clients, a page for a person."""

from __future__ import annotations

import math
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from babel.dates import format_timedelta
from flask import Response, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from service.domain.i18n import LOCALES, has, t
from service.domain.languages import LANGUAGES
from service.domain.normalize import FieldProblem, InvalidInput
from service.settings import Settings
from service.web.extensions import limiter

HTTP_MESSAGES = {
    400: "the request could not be read",
    404: "no such page",
    405: "this method is not allowed here",
    413: "the request body is too large (at most 64 KiB)",
    415: "send application/json, application/x-www-form-urlencoded or multipart/form-data",
}


def no_store(response: Response) -> Response:
    """Forbid shared caches and browsers to keep a page reached through a personal link."""
    response.headers["Cache-Control"] = "no-store"
    return response


def page_language(default: str) -> str:
    """Pick the page language: ?lang=, then the browser's preference, then the default."""
    wanted = (request.args.get("lang") or request.form.get("language") or "").lower()[:2] \
        if request.method == "GET" or request.mimetype != "application/json" else ""
    if wanted in LANGUAGES:
        return wanted
    best = request.accept_languages.best_match(LANGUAGES)
    return best or default


def wants_json() -> bool:
    """Tell whether the caller is a program (JSON) rather than a person (a page)."""
    if request.mimetype == "application/json":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    if request.path.startswith("/api/"):
        # JSON unless the caller prefers a page (a browser posting the hosted form says
        # text/html outright; curl's and requests' */* is not a preference).
        accepted = request.accept_mimetypes
        return accepted["text/html"] <= accepted["application/json"]
    return best == "application/json" and request.accept_mimetypes["text/html"] == 0


def problem(status: int, code: str, message_key: str | None = None, *,
            message: str | None = None, fields: dict[str, str] | None = None) -> Any:
    """Answer an error in the caller's format."""
    lang = getattr(g, "language", "fi")
    text = message or (t("en", message_key) if message_key else code)
    if wants_json():
        body: dict[str, Any] = {"error": code, "message": text}
        if fields:
            body["fields"] = fields
        return jsonify(body), status
    if status == 429:
        return render_template(
            "message.html", lang=lang, title=t(lang, "error.rate_limited_title"),
            text=t(lang, "error.rate_limited_wait", wait=wait_words(lang)), fields={},
        ), status
    if status == 404:
        return render_template(
            "message.html", lang=lang, title=t(lang, "error.not_found_title"),
            text=t(lang, "error.not_found"), fields={},
            link=(f"/subscribe?lang={lang}", t(lang, "link.to_form")),
        ), status
    title = t(lang, "error.title") if fields else t(lang, "error.generic_title")
    if message_key and message is None:
        page_text = t(lang, message_key)
    elif status in HTTP_MESSAGES:
        # Their English words are for programs; a page speaks the page's language only.
        page_text = t(lang, "error.http")
    else:
        page_text = text
    return render_template(
        "message.html", lang=lang, title=title, text=page_text, fields=fields or {},
        back=t(lang, "error.back") if fields else None,
    ), status


def wait_words(lang: str) -> str:
    """Say how long until the breached rate limit's window ends: "5 minuuttia", "1 hour"."""
    breached = limiter.current_limit
    seconds = breached.window.reset_time - time.time() if breached is not None else 60
    minutes = max(1, math.ceil(seconds / 60))
    return format_timedelta(timedelta(minutes=minutes), granularity="minute", threshold=10,
                            locale=LOCALES.get(lang, LOCALES["fi"]))


def invalid_input(exc: InvalidInput) -> Any:
    """Answer 422 naming every field at fault: for a person, in their language."""
    fields: dict[str, str] = {}
    for p in exc.problems:
        fields.setdefault(p.field, p.problem)
    if wants_json():
        message = "; ".join(f"{k} {v}" for k, v in fields.items())
        return problem(422, "invalid_input", message=message, fields=fields)
    lang = getattr(g, "language", "fi")
    shown: dict[str, str] = {}
    for p in exc.problems:
        shown.setdefault(field_label(lang, p.field), problem_words(lang, p))
    return problem(422, "invalid_input", message=t(lang, "error.fix"), fields=shown)


def field_label(lang: str, field: str) -> str:
    """Name a field in lang when the catalogue has it, else by its code."""
    return t(lang, f"field.{field}") if has(f"field.{field}") else field


def problem_words(lang: str, p: FieldProblem) -> str:
    """Say what is wrong with a field in lang when the catalogue has it, else in English."""
    key = f"problem.{p.code}"
    return t(lang, key, limit=p.limit) if has(key) else p.problem


def http_error(exc: HTTPException) -> Any:
    """Answer a werkzeug HTTP error without a stack trace, in the caller's format."""
    status = exc.code or 500
    message = HTTP_MESSAGES.get(status, exc.description or exc.name)
    if status == 400 and exc.description and "JSON" in exc.description:
        message = exc.description
    return problem(status, exc.name.lower().replace(" ", "_"), message=message)


def trusted_next(next_url: str | None, settings: Settings) -> str | None:
    """Return next only when it points at an allowed origin."""
    if not next_url:
        return None
    parts = urlsplit(next_url)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    return next_url if origin in settings.allowed_origins else None


def secure(response: Response, settings: Settings) -> Response:
    """Add security headers; only the hosted form may be framed, by allowed origins."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # Links carry tokens: never leak them to other sites.
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path in ("/subscribe", "/subscribe/"):
        ancestors = " ".join(["'self'", *settings.allowed_origins])
    else:
        ancestors = "'none'"
        response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action *; "
        f"base-uri 'none'; frame-ancestors {ancestors}",
    )
    origin = request.headers.get("Origin", "").lower()
    if origin and origin in settings.allowed_origins and request.path.startswith("/api/v1/"):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers.add("Vary", "Origin")
    if request.path.startswith(("/confirm/", "/unsubscribe/")):
        no_store(response)
    return response

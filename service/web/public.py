"""Public pages and the opt-in API: the hosted form, opt-in, confirmation."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request

from service.domain import ledger, optin
from service.domain.i18n import t
from service.domain.languages import LANGUAGES
from service.web import answers, pacing
from service.web.current import container, language, read_fields, request_context, settings
from service.web.extensions import limiter

# A field no person sees or fills; bots do.
HONEYPOT = "website"

bp = Blueprint("public", __name__)


def optin_rate_limit() -> str:
    """Return this app's limit per client IP of opt-ins (and of requests for one's link)."""
    return settings().optin_rate_limit


@bp.get("/subscribe")
def subscribe_form() -> Any:
    """Show the hosted opt-in form."""
    lang = language()
    with container().uow() as uow:
        notice = ledger.resolve_notice(uow.session, None, lang)
        text = ledger.notice_text(uow.session, notice)
    return render_template(
        "subscribe.html", lang=lang, t=t, notice=notice, notice_text=text,
        org=settings().organization, privacy_url=settings().privacy_url,
        next=answers.trusted_next(request.args.get("next"), settings()),
        honeypot=HONEYPOT,
    )


@bp.route("/api/v1/subscribe", methods=["OPTIONS"])
def subscribe_preflight() -> Response:
    """Answer a CORS preflight for JavaScript posts from allowed origins."""
    response = Response(status=204)
    origin = request.headers.get("Origin", "").lower()
    if origin in settings().allowed_origins:
        response.headers["Access-Control-Allow-Methods"] = "POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


@bp.post("/api/v1/subscribe")
@limiter.limit(optin_rate_limit)
def subscribe() -> Any:
    """Take an opt-in (JSON or a form post) and answer the same for any address.

    The same in time too: an opt-in that recorded nothing (an address on the register, a
    bot's) is paced to last as long as one that did.
    """
    started = time.perf_counter()
    configured = settings()
    fields = read_fields()
    lang = fields.get("language") if isinstance(fields.get("language"), str) else None
    if HONEYPOT in fields and str(fields[HONEYPOT]).strip():
        outcome = optin.OptInOutcome("pending" if configured.double_opt_in else "subscribed",
                                     recorded=False)
    else:
        form = optin.parse_opt_in(fields, default_language=configured.default_language)
        lang = form.language
        outcome = optin.request_opt_in(
            container().uow(), container().deps, form, request_context()
        )
    pacing.pacer_for("opt-in").finish(started, did_the_work=outcome.recorded)
    if answers.wants_json():
        return jsonify({"status": outcome.status}), 202
    next_url = answers.trusted_next(
        fields.get("next") if isinstance(fields.get("next"), str) else None, configured
    )
    if next_url:
        return redirect(next_url, code=303)
    page_lang = lang if lang in LANGUAGES else language()
    return render_template(
        "message.html", lang=page_lang, title=t(page_lang, "thanks.title"),
        text=t(page_lang, f"thanks.{outcome.status}"), fields={},
    ), 202


@bp.get("/confirm/<token>")
def confirm_page(token: str) -> Any:
    """Show the confirmation button; a GET never changes anything."""
    view = optin.view_confirmation(container().uow(), container().deps, token)
    lang = view.language
    if view.already_confirmed:
        return render_template(
            "message.html", lang=lang, title=t(lang, "confirm.done_title"),
            text=t(lang, "confirm.done", org=settings().organization), fields={},
        )
    return render_template(
        "confirm.html", lang=lang, t=t, address=view.masked_address,
        org=settings().organization,
    )


@bp.post("/confirm/<token>")
def confirm(token: str) -> Any:
    """Confirm the opt-in."""
    view = optin.confirm_opt_in(container().uow(), container().deps, token,
                                request_context())
    if answers.wants_json():
        return jsonify({"status": "subscribed"})
    lang = view.language
    return render_template(
        "message.html", lang=lang, title=t(lang, "confirm.done_title"),
        text=t(lang, "confirm.done", org=settings().organization), fields={},
    )


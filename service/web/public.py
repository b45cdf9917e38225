"""Public pages and the opt-in API: the hosted form, opt-in, confirmation."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for

from service.domain import ledger, links, optin
from service.domain.channels import Channel
from service.domain.i18n import t
from service.domain.languages import LANGUAGES
from service.domain.links import ConfirmLink
from service.domain.normalize import FieldProblem, InvalidInput
from service.web import answers, pacing
from service.web.current import container, language, read_fields, request_context, settings
from service.web.extensions import limiter

# A field no person sees or fills; bots do.
HONEYPOT = "website"

bp = Blueprint("public", __name__)
# The form's element each field's problem points at (the summary links to it).
FIELD_IDS = {"email": "email", "name": "name", "phone": "phone", "channels": "channel-email",
             "consent": "consent"}


def optin_rate_limit() -> str:
    """Return this app's limit per client IP of opt-ins (and of requests for one's link)."""
    return settings().optin_rate_limit


@bp.get("/subscribe")
def subscribe_form() -> Any:
    """Show the hosted opt-in form."""
    return form_page(language(), next_url=request.args.get("next"))


def form_page(lang: str, *, next_url: str | None, typed: Mapping[str, Any] | None = None,
              problems: Sequence[FieldProblem] = ()) -> str:
    """Draw the opt-in form: empty, or again with what was typed and each problem by its field."""
    with container().uow() as uow:
        notice = ledger.resolve_notice(uow.session, None, lang)
        text = ledger.notice_text(uow.session, notice)
    errors: dict[str, str] = {}
    for p in problems:
        errors.setdefault(p.field, answers.problem_words(lang, p))
    summary = [(FIELD_IDS.get(name), answers.field_label(lang, name), words)
               for name, words in errors.items()]
    typed = typed or {}
    channels = typed.get("channels", [Channel.EMAIL.value] if not problems else [])
    return render_template(
        "subscribe.html", lang=lang, t=t, notice=notice, notice_text=text,
        org=settings().organization, privacy_url=settings().privacy_url,
        next=answers.trusted_next(next_url, settings()), honeypot=HONEYPOT,
        typed={k: v for k, v in typed.items() if isinstance(v, str)},
        channels=channels if isinstance(channels, list) else [channels],
        errors=errors, summary=summary, back=back_url(lang, next_url) if problems else None,
    )


def back_url(lang: str, next_url: str | None) -> str:
    """Return where "go back" leads: the practice's page the form came from, else a fresh form."""
    came_from = answers.trusted_next(next_url, settings()) \
        or answers.trusted_next(request.referrer, settings())
    return came_from or url_for("public.subscribe_form", lang=lang)


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
    sms_chosen = False
    if HONEYPOT in fields and str(fields[HONEYPOT]).strip():
        outcome = optin.OptInOutcome("pending" if configured.double_opt_in else "subscribed",
                                     recorded=False)
    else:
        try:
            form = optin.parse_opt_in(fields, default_language=configured.default_language)
        except InvalidInput as exc:
            if answers.wants_json():
                raise
            # A person posting the form gets it back, not a dead end (JSON callers get 422).
            page_lang = lang if lang in LANGUAGES else language()
            next_field = fields.get("next")
            return form_page(page_lang, next_url=next_field if isinstance(next_field, str)
                             else None, typed=fields, problems=exc.problems), 422
        lang = form.language
        sms_chosen = Channel.SMS.value in form.channels
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
        more=t(page_lang, "confirm.sms") if sms_chosen else None,
    ), 202


@bp.get("/confirm/<token>")
def confirm_page(token: str) -> Any:
    """Show the confirmation button; a GET never changes anything."""
    view = optin.view_confirmation(container().uow(), container().deps, token)
    lang = view.language
    if view.already_confirmed:
        return confirmed_page(lang, token)
    return render_template(
        "confirm.html", lang=lang, t=t, address=view.masked_address,
        org=settings().organization, sms=sms_in(token),
    )


def sms_in(token: str) -> bool:
    """Tell whether the opt-in this (already checked) link confirms asked for text messages."""
    return Channel.SMS.value in links.read(container().deps, ConfirmLink, token).channels


def confirmed_page(lang: str, token: str) -> str:
    """Say the subscription is confirmed, naming text messages when they were chosen."""
    return render_template(
        "message.html", lang=lang, title=t(lang, "confirm.done_title"),
        text=t(lang, "confirm.done", org=settings().organization), fields={},
        more=t(lang, "confirm.sms") if sms_in(token) else None,
    )


@bp.post("/confirm/<token>")
def confirm(token: str) -> Any:
    """Confirm the opt-in."""
    view = optin.confirm_opt_in(container().uow(), container().deps, token,
                                request_context())
    if answers.wants_json():
        return jsonify({"status": "subscribed"})
    return confirmed_page(view.language, token)


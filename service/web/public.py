"""Public pages and the opt-in API: the hosted form, opt-in, confirmation."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, redirect, render_template, request
from flask_limiter import Limiter
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from service.bootstrap import Container
from service.domain import ledger, optin
from service.domain.i18n import t
from service.domain.optin import LinkNotUsable, RequestContext
from service.web import answers, inputs, pacing

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# A field no person sees or fills; bots do.
HONEYPOT = "website"


def request_context() -> RequestContext:
    """Return who is asking, for the evidence."""
    return RequestContext(ip=request.remote_addr, user_agent=request.user_agent.string or None)


def read_fields() -> dict[str, Any]:
    """Read a JSON object or a form into a dict; multi-valued form fields become lists."""
    if request.mimetype == "application/json":
        try:
            body = inputs.loads(request.get_data())
        except inputs.JsonTooDeep as exc:
            raise BadRequest(str(exc)) from None
        except ValueError:
            raise BadRequest("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the JSON body must be an object of fields")
        return body
    if request.mimetype in FORM_TYPES:
        fields: dict[str, Any] = {}
        for key in request.form:
            values = request.form.getlist(key)
            fields[key] = values if key == "channels" else values[-1]
        return fields
    raise UnsupportedMediaType()


def container() -> Container:
    """Return this app's container."""
    return current_app.extensions["consent"]  # type: ignore[no-any-return]


def build_blueprint(app_container: Container, limiter: Limiter) -> Blueprint:
    """Return the public blueprint, rate-limited per client IP as configured."""
    bp = Blueprint("public", __name__)
    settings = app_container.settings
    pacer = pacing.Pacer()

    @bp.get("/subscribe")
    def subscribe_form() -> Any:
        """Show the hosted opt-in form."""
        lang = g.language
        with app_container.uow() as uow:
            notice = ledger.resolve_notice(uow.session, None, lang)
            text = ledger.notice_text(uow.session, notice)
        return render_template(
            "subscribe.html", lang=lang, t=t, notice=notice, notice_text=text,
            org=settings.organization, privacy_url=settings.privacy_url,
            next=answers.trusted_next(request.args.get("next"), settings),
            honeypot=HONEYPOT,
        )

    @bp.route("/api/v1/subscribe", methods=["OPTIONS"])
    def subscribe_preflight() -> Response:
        """Answer a CORS preflight for JavaScript posts from allowed origins."""
        response = Response(status=204)
        origin = request.headers.get("Origin", "").lower()
        if origin in settings.allowed_origins:
            response.headers["Access-Control-Allow-Methods"] = "POST"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Access-Control-Max-Age"] = "600"
        return response

    @bp.post("/api/v1/subscribe")
    @limiter.limit(lambda: settings.optin_rate_limit)
    def subscribe() -> Any:
        """Take an opt-in (JSON or a form post) and answer the same for any address.

        The same in time too: an opt-in that recorded nothing (an address on the register, a
        bot's) is paced to last as long as one that did.
        """
        started = time.perf_counter()
        fields = read_fields()
        lang = fields.get("language") if isinstance(fields.get("language"), str) else None
        if HONEYPOT in fields and str(fields[HONEYPOT]).strip():
            outcome = optin.OptInOutcome("pending" if settings.double_opt_in else "subscribed",
                                         recorded=False)
        else:
            form = optin.parse_opt_in(fields, default_language=settings.default_language)
            lang = form.language
            outcome = optin.request_opt_in(
                app_container.uow(), app_container.deps, form, request_context()
            )
        pacer.finish(started, did_the_work=outcome.recorded)
        if answers.wants_json():
            return jsonify({"status": outcome.status}), 202
        next_url = answers.trusted_next(
            fields.get("next") if isinstance(fields.get("next"), str) else None, settings
        )
        if next_url:
            return redirect(next_url, code=303)
        page_lang = lang if lang in ("fi", "sv", "en") else g.language
        return render_template(
            "message.html", lang=page_lang, title=t(page_lang, "thanks.title"),
            text=t(page_lang, f"thanks.{outcome.status}"), fields={},
        ), 202

    @bp.get("/confirm/<token>")
    def confirm_page(token: str) -> Any:
        """Show the confirmation button; a GET never changes anything."""
        try:
            view = optin.view_confirmation(app_container.uow(), app_container.deps, token)
        except LinkNotUsable as exc:
            return _unusable(exc)
        lang = view.language
        if view.already_confirmed:
            return render_template(
                "message.html", lang=lang, title=t(lang, "confirm.done_title"),
                text=t(lang, "confirm.done", org=settings.organization), fields={},
            )
        return render_template(
            "confirm.html", lang=lang, t=t, address=view.masked_address,
            org=settings.organization,
        )

    @bp.post("/confirm/<token>")
    def confirm(token: str) -> Any:
        """Confirm the opt-in."""
        try:
            view = optin.confirm_opt_in(
                app_container.uow(), app_container.deps, token, request_context()
            )
        except LinkNotUsable as exc:
            return _unusable(exc)
        if answers.wants_json():
            return jsonify({"status": "subscribed"})
        lang = view.language
        return render_template(
            "message.html", lang=lang, title=t(lang, "confirm.done_title"),
            text=t(lang, "confirm.done", org=settings.organization), fields={},
        )

    def _unusable(exc: LinkNotUsable) -> Any:
        lang = exc.language or g.language
        key = "link.expired" if exc.reason == "expired" else "link.invalid"
        if answers.wants_json():
            return jsonify({"error": f"link_{exc.reason}", "message": t("en", key)}), 404 \
                if exc.reason == "invalid" else 410
        return render_template(
            "message.html", lang=lang, title=t(lang, "link.invalid_title"), text=t(lang, key),
            fields={}, link=("/subscribe?lang=" + lang, t(lang, "link.to_form")),
        ), (404 if exc.reason == "invalid" else 410)

    return bp

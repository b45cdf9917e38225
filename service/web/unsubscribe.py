"""Public unsubscribe pages: the signed link, one-click POSTs, undo, and "send me my link"."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, g, jsonify, render_template, request, url_for
from flask_limiter import Limiter

from service.bootstrap import Container
from service.domain import unsubscribe
from service.domain.context import Deps
from service.domain.i18n import t
from service.domain.optin import LinkNotUsable, verify_link
from service.domain.tokens import Purpose
from service.web import answers, client_ip, pacing
from service.web.public import request_context

# Per token, not per IP: mail providers send every recipient's one-click POST from few IPs.
# Only a token this service signed gets counters of its own; any other is counted per caller IP
# (the same limit), so made-up tokens neither leave state behind nor go unthrottled.
ONE_CLICK_LIMIT = "10/minute;100/day"


def path_token() -> str:
    """Return the token in the request's path."""
    return str((request.view_args or {}).get("token", ""))


def token_key() -> str:
    """Return the rate-limit key of the link in the path (hashed: tokens stay out of storage)."""
    return "token:" + hashlib.sha256(path_token().encode("utf-8")).hexdigest()[:32]


def link_key(deps: Deps, purpose: Purpose) -> Callable[[], str]:
    """Return a rate-limit key function: per token for a signed one, else per caller IP.

    The signature is checked before anything is counted (an expired link is still genuine:
    this service signed it).
    """

    def key() -> str:
        try:
            verify_link(deps, purpose, path_token())
        except LinkNotUsable as exc:
            if exc.reason != "expired":
                return "unsigned-link-from:" + client_ip()
        return token_key()

    return key


def is_one_click() -> bool:
    """Tell whether the POST is a mail client's RFC 8058 one-click (urlencoded or multipart)."""
    return request.form.get("List-Unsubscribe", "").strip() == "One-Click"


def build_blueprint(app_container: Container, limiter: Limiter) -> Blueprint:
    """Return the unsubscribe blueprint."""
    bp = Blueprint("unsubscribe", __name__)
    settings = app_container.settings
    unsubscribe_link = link_key(app_container.deps, Purpose.UNSUBSCRIBE)
    undo_link = link_key(app_container.deps, Purpose.RESUBSCRIBE)
    org = settings.organization
    link_request_pacer = pacing.Pacer()

    def channel_name(lang: str, channel: str) -> str:
        return t(lang, f"channel.{channel}").lower()

    def unusable(exc: LinkNotUsable, *, undo: bool = False) -> Any:
        # The same page for every bad unsubscribe link: it must not tell one kind from another.
        lang = g.language
        status = 410 if exc.reason == "expired" else 404
        if undo:
            text = t(lang, "resubscribe.expired" if exc.reason == "expired" else "link.invalid")
            link = (f"/subscribe?lang={lang}", t(lang, "link.to_form"))
        else:
            text = t(lang, "unsubscribe.invalid")
            link = (url_for("unsubscribe.link_form", lang=lang), t(lang, "unsubscribe.new_link"))
        if answers.wants_json():
            key = "unsubscribe.invalid" if not undo else "link.invalid"
            return jsonify({"error": f"link_{exc.reason}", "message": t("en", key)}), status
        return render_template("message.html", lang=lang, title=t(lang, "link.invalid_title"),
                               text=text, fields={}, link=link), status

    bp.after_request(answers.no_store)

    @bp.get("/unsubscribe/<token>")
    def unsubscribe_page(token: str) -> Any:
        """Show which address and channel the button removes; GET and HEAD change nothing."""
        try:
            view = unsubscribe.view_unsubscribe(app_container.uow(), app_container.deps, token)
        except LinkNotUsable as exc:
            return unusable(exc)
        lang = view.language
        return render_template(
            "unsubscribe.html", lang=lang, t=t, org=org, view=view,
            channel=channel_name(lang, view.channel), token=token,
        )

    @bp.get("/unsubscribe/<token>/receipt.jsonld")
    def receipt(token: str) -> Any:
        """Download the person's consent receipt (ISO/IEC TS 27560 JSON-LD); changes nothing."""
        try:
            attachment = unsubscribe.receipt_by_link(app_container.uow(), app_container.deps,
                                                     token)
        except LinkNotUsable as exc:
            return unusable(exc)
        return Response(attachment.content, mimetype=attachment.media_type, headers={
            "Content-Disposition": f'attachment; filename="{attachment.filename}"'})

    @bp.post("/unsubscribe/<token>")
    @limiter.limit(ONE_CLICK_LIMIT, key_func=unsubscribe_link)
    def withdraw(token: str) -> Any:
        """Withdraw at once (the button or an RFC 8058 one-click) and answer 200, no redirect."""
        one_click = is_one_click()
        try:
            outcome = unsubscribe.withdraw_by_link(
                app_container.uow(), app_container.deps, token, request_context(),
                one_click=one_click,
            )
        except LinkNotUsable as exc:
            return unusable(exc)
        if one_click and not answers.wants_json():
            # A mail client's POST: RFC 8058 asks for a 2xx and nobody reads the body, so the
            # answer page (undo, reason, other channels) would be rendered for nothing.
            return Response(t(outcome.language, "unsubscribe.done_title") + "\n",
                            mimetype="text/plain")
        return answer_withdrawn(token, outcome)

    @bp.post("/unsubscribe/<token>/all")
    @limiter.limit(ONE_CLICK_LIMIT, key_func=unsubscribe_link)
    def withdraw_everything(token: str) -> Any:
        """Withdraw every channel of the link's contact."""
        try:
            outcome = unsubscribe.withdraw_by_link(
                app_container.uow(), app_container.deps, token, request_context(),
                one_click=False, every_channel=True,
            )
        except LinkNotUsable as exc:
            return unusable(exc)
        return answer_withdrawn(token, outcome, everything=True)

    def answer_withdrawn(
        token: str, outcome: unsubscribe.WithdrawalOutcome, *, everything: bool = False
    ) -> Any:
        if answers.wants_json():
            return jsonify({"status": "unsubscribed", "channel": outcome.channel})
        lang = outcome.language
        others = ", ".join(channel_name(lang, c) for c in outcome.other_channels)
        return render_template(
            "unsubscribed.html", lang=lang, t=t, org=org, outcome=outcome, token=token,
            channel=channel_name(lang, outcome.channel), others=others, everything=everything,
            reasons=unsubscribe.REASONS,
        )

    @bp.post("/unsubscribe/<token>/reason")
    @limiter.limit(ONE_CLICK_LIMIT, key_func=unsubscribe_link)
    def reason(token: str) -> Any:
        """Keep the optional reason the person gave after unsubscribing."""
        try:
            lang = unsubscribe.give_reason(
                app_container.uow(), app_container.deps, token,
                request.form.get("reason"), request.form.get("text"),
            )
        except LinkNotUsable as exc:
            return unusable(exc)
        return render_template(
            "message.html", lang=lang, title=t(lang, "unsubscribe.done_title"),
            text=t(lang, "unsubscribe.reason_thanks"), fields={},
        )

    @bp.get("/resubscribe/<token>")
    def resubscribe_page(token: str) -> Any:
        """Show the "I changed my mind" button; a GET changes nothing."""
        try:
            lang = unsubscribe.view_undo(app_container.uow(), app_container.deps, token)
        except LinkNotUsable as exc:
            return unusable(exc, undo=True)
        return render_template("resubscribe.html", lang=lang, t=t, org=org)

    @bp.post("/resubscribe/<token>")
    @limiter.limit(ONE_CLICK_LIMIT, key_func=undo_link)
    def resubscribe(token: str) -> Any:
        """Subscribe again, as a new consent, what this undo link's withdrawal removed."""
        try:
            outcome = unsubscribe.undo_withdrawal(
                app_container.uow(), app_container.deps, token, request_context()
            )
        except LinkNotUsable as exc:
            return unusable(exc, undo=True)
        lang = outcome.language
        if answers.wants_json():
            return jsonify({"status": "subscribed" if outcome.restored else "unchanged",
                            "channels": list(outcome.restored)})
        if not outcome.restored:
            return render_template(
                "message.html", lang=lang, title=t(lang, "resubscribe.title"),
                text=t(lang, "resubscribe.nothing"), fields={},
                link=(f"/subscribe?lang={lang}", t(lang, "link.to_form")),
            )
        return render_template(
            "message.html", lang=lang, title=t(lang, "resubscribe.done_title"),
            text=t(lang, "resubscribe.done", org=org), fields={},
        )

    @bp.get("/unsubscribe")
    def link_form() -> Any:
        """Show the "send me my link" form."""
        return render_template("link.html", lang=g.language, t=t, org=org)

    @bp.post("/unsubscribe")
    @limiter.limit(lambda: settings.optin_rate_limit)
    def send_link() -> Any:
        """Mail the unsubscribe link to an address on the register; answer the same for any.

        The same in time too: an address that gets no mail is paced like one that does.
        """
        started = time.perf_counter()
        sent = unsubscribe.send_my_link(app_container.uow(), app_container.deps,
                                        request.form.get("email"))
        link_request_pacer.finish(started, did_the_work=sent)
        lang = g.language
        if answers.wants_json():
            return jsonify({"status": "sent_if_on_register"}), 202
        return render_template(
            "message.html", lang=lang, title=t(lang, "link.sent_title"), text=t(lang, "link.sent"),
            fields={},
        ), 202

    return bp

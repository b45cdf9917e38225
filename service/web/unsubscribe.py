"""Public unsubscribe pages: the signed link, one-click POSTs, undo, and "send me my link"."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request

from service.domain import links, unsubscribe
from service.domain.i18n import t
from service.web import answers, pacing
from service.web.current import container, language, request_context, settings
from service.web.extensions import limiter
from service.web.links import link_key
from service.web.public import optin_rate_limit

# Per token, not per IP: mail providers send every recipient's one-click POST from few IPs.
# Only a token this service signed gets counters of its own; any other is counted per caller IP
# (the same limit), so made-up tokens neither leave state behind nor go unthrottled.
ONE_CLICK_LIMIT = "10/minute;100/day"

bp = Blueprint("unsubscribe", __name__)
bp.after_request(answers.no_store)


def is_one_click() -> bool:
    """Tell whether the POST is a mail client's RFC 8058 one-click (urlencoded or multipart)."""
    return request.form.get("List-Unsubscribe", "").strip() == "One-Click"


def channel_name(lang: str, channel: str) -> str:
    """Name a channel in lang, in lower case for the middle of a sentence."""
    return t(lang, f"channel.{channel}").lower()


unsubscribe_link = link_key(links.UnsubscribeLink)
undo_link = link_key(links.UndoLink)


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token: str) -> Any:
    """Show which address and channel the button removes; GET and HEAD change nothing."""
    view = unsubscribe.view_unsubscribe(container().uow(), container().deps, token)
    lang = view.language
    return render_template(
        "unsubscribe.html", lang=lang, t=t, org=settings().organization, view=view,
        channel=channel_name(lang, view.channel), token=token,
    )


@bp.get("/unsubscribe/<token>/receipt.jsonld")
def receipt(token: str) -> Any:
    """Download the person's consent receipt (ISO/IEC TS 27560 JSON-LD); changes nothing."""
    attachment = unsubscribe.receipt_by_link(container().uow(), container().deps, token)
    return Response(attachment.content, mimetype=attachment.media_type, headers={
        "Content-Disposition": f'attachment; filename="{attachment.filename}"'})


@bp.post("/unsubscribe/<token>")
@limiter.limit(ONE_CLICK_LIMIT, key_func=unsubscribe_link)
def withdraw(token: str) -> Any:
    """Withdraw at once (the button or an RFC 8058 one-click) and answer 200, no redirect."""
    one_click = is_one_click()
    # The page's buttons name a channel; a mail client's one-click stops the link's own.
    chosen = None if one_click else request.form.get("channel") or None
    outcome = unsubscribe.withdraw_by_link(
        container().uow(), container().deps, token, request_context(), one_click=one_click,
        channel=chosen,
    )
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
    outcome = unsubscribe.withdraw_by_link(
        container().uow(), container().deps, token, request_context(),
        one_click=False, every_channel=True,
    )
    return answer_withdrawn(token, outcome, everything=True)


def answer_withdrawn(
    token: str, outcome: unsubscribe.WithdrawalOutcome, *, everything: bool = False
) -> Any:
    """Answer a withdrawal: what was removed, what is left, undo and the reason form."""
    if answers.wants_json():
        return jsonify({"status": "unsubscribed", "channel": outcome.channel})
    lang = outcome.language
    return render_template(
        "unsubscribed.html", lang=lang, t=t, org=settings().organization, outcome=outcome,
        token=token, channel=channel_name(lang, outcome.channel), everything=everything,
        reasons=unsubscribe.REASONS,
    )


@bp.post("/unsubscribe/<token>/reason")
@limiter.limit(ONE_CLICK_LIMIT, key_func=unsubscribe_link)
def reason(token: str) -> Any:
    """Keep the optional reason the person gave after unsubscribing."""
    lang = unsubscribe.give_reason(
        container().uow(), container().deps, token,
        request.form.get("reason"), request.form.get("text"),
        channel=request.form.get("channel") or None,
    )
    return render_template(
        "message.html", lang=lang, title=t(lang, "unsubscribe.done_title"),
        text=t(lang, "unsubscribe.reason_thanks"), fields={},
    )


@bp.get("/resubscribe/<token>")
def resubscribe_page(token: str) -> Any:
    """Show the "I changed my mind" button; a GET changes nothing."""
    lang = unsubscribe.view_undo(container().uow(), container().deps, token)
    return render_template("resubscribe.html", lang=lang, t=t, org=settings().organization)


@bp.post("/resubscribe/<token>")
@limiter.limit(ONE_CLICK_LIMIT, key_func=undo_link)
def resubscribe(token: str) -> Any:
    """Subscribe again, as a new consent, what this undo link's withdrawal removed."""
    outcome = unsubscribe.undo_withdrawal(
        container().uow(), container().deps, token, request_context()
    )
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
        text=t(lang, "resubscribe.done", org=settings().organization), fields={},
    )


@bp.get("/unsubscribe")
def link_form() -> Any:
    """Show the "send me my link" form."""
    return render_template("link.html", lang=language(), t=t, org=settings().organization)


@bp.post("/unsubscribe")
@limiter.limit(optin_rate_limit)
def send_link() -> Any:
    """Mail the unsubscribe link to an address on the register; answer the same for any.

    The same in time too: an address that gets no mail is paced like one that does.
    """
    started = time.perf_counter()
    sent = unsubscribe.send_my_link(container().uow(), container().deps,
                                    request.form.get("email"))
    pacing.pacer_for("link-request").finish(started, did_the_work=sent)
    lang = language()
    if answers.wants_json():
        return jsonify({"status": "sent_if_on_register"}), 202
    return render_template(
        "message.html", lang=lang, title=t(lang, "link.sent_title"), text=t(lang, "link.sent"),
        fields={},
    ), 202

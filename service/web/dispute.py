"""The receipt's "I never agreed to this" page: GET shows a button, POST withdraws and flags."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from service.domain import verbal
from service.domain.i18n import t
from service.domain.links import DisputeLink
from service.web import answers
from service.web.current import container, request_context, settings
from service.web.extensions import limiter
from service.web.links import link_key

LIMIT = "10/minute;100/day"

bp = Blueprint("dispute", __name__)
bp.after_request(answers.no_store)
# Counted per link only once its signature holds: made-up tokens count per caller IP.
dispute_link = link_key(DisputeLink)


@bp.get("/dispute/<token>")
def dispute_page(token: str) -> Any:
    """Show the button; a GET (a mail scanner) changes nothing."""
    view = verbal.view_dispute(container().uow(), container().deps, token)
    lang = view.language
    return render_template("dispute.html", lang=lang, t=t, org=settings().organization,
                           address=view.masked_address)


@bp.post("/dispute/<token>")
@limiter.limit(LIMIT, key_func=dispute_link)
def dispute(token: str) -> Any:
    """Withdraw the receipt's consents and flag the record for staff."""
    view = verbal.dispute_receipt(container().uow(), container().deps, token,
                                  request_context())
    lang = view.language
    return render_template("message.html", lang=lang, title=t(lang, "dispute.done_title"),
                           text=t(lang, "dispute.done"), fields={})

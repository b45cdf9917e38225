"""The receipt's "I never agreed to this" page: GET shows a button, POST withdraws and flags."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, render_template
from flask_limiter import Limiter

from service.bootstrap import Container
from service.domain import verbal
from service.domain.i18n import t
from service.domain.optin import LinkNotUsable
from service.domain.tokens import Purpose
from service.web import answers
from service.web.public import request_context
from service.web.unsubscribe import link_key

LIMIT = "10/minute;100/day"


def build_blueprint(app_container: Container, limiter: Limiter) -> Blueprint:
    """Return the dispute blueprint."""
    bp = Blueprint("dispute", __name__)
    org = app_container.settings.organization
    # Counted per link only once its signature holds: made-up tokens count per caller IP.
    dispute_link = link_key(app_container.deps, Purpose.DISPUTE)

    def unusable() -> Any:
        lang = g.language
        return render_template("message.html", lang=lang, title=t(lang, "link.invalid_title"),
                               text=t(lang, "link.invalid"), fields={}), 404

    bp.after_request(answers.no_store)

    @bp.get("/dispute/<token>")
    def dispute_page(token: str) -> Any:
        """Show the button; a GET (a mail scanner) changes nothing."""
        try:
            view = verbal.view_dispute(app_container.uow(), app_container.deps, token)
        except LinkNotUsable:
            return unusable()
        lang = view.language
        return render_template("dispute.html", lang=lang, t=t, org=org,
                               address=view.masked_address)

    @bp.post("/dispute/<token>")
    @limiter.limit(LIMIT, key_func=dispute_link)
    def dispute(token: str) -> Any:
        """Withdraw the receipt's consents and flag the record for staff."""
        try:
            view = verbal.dispute_receipt(app_container.uow(), app_container.deps, token,
                                          request_context())
        except LinkNotUsable:
            return unusable()
        lang = view.language
        return render_template("message.html", lang=lang, title=t(lang, "dispute.done_title"),
                               text=t(lang, "dispute.done"), fields={})

    return bp

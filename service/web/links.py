"""Personal links at the edge: the rate-limit key of the link in a path, and the one answer
(by where the link was followed) when a link is not usable.

The answers are today's, page for page: a confirmation link says whether it expired (410) or
is invalid (404); every bad unsubscribe link gets the same page, which must not tell one kind
from another; an undo link says it expired; a dispute link is 404 whatever is wrong with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from flask import g, jsonify, render_template, request, url_for

from service.domain import links
from service.domain.i18n import t
from service.domain.links import LinkNotUsable
from service.web import answers
from service.web.current import client_ip, container, language

# The views of undo links and of confirmation links: each says more than "not usable".
UNDO_ENDPOINTS = ("unsubscribe.resubscribe_page", "unsubscribe.resubscribe")
CONFIRM_ENDPOINTS = ("public.confirm_page", "public.confirm")


def path_token() -> str:
    """Return the token in the request's path."""
    return str((request.view_args or {}).get("token", ""))


def token_key() -> str:
    """Return the rate-limit key of the link in the path (hashed: tokens stay out of storage)."""
    return "token:" + hashlib.sha256(path_token().encode("utf-8")).hexdigest()[:32]


def link_key(kind: type[links.PersonalLink]) -> Callable[[], str]:
    """Return a rate-limit key function: per token for a signed one, else per caller IP.

    The signature is checked before anything is counted (an expired link is still genuine:
    this service signed it).
    """

    def key() -> str:
        # Flask-Limiter asks once per window of the limit: the signature is checked once.
        known: dict[type[links.PersonalLink], str] = g.setdefault("link_keys", {})
        if kind not in known:
            known[kind] = signed_or_caller(kind)
        return known[kind]

    return key


def signed_or_caller(kind: type[links.PersonalLink]) -> str:
    """Return the key of the link in the path when this service signed it, else the caller's."""
    try:
        links.read(container().deps, kind, path_token())
    except LinkNotUsable as exc:
        if exc.reason != links.EXPIRED:
            return "unsigned-link-from:" + client_ip()
    return token_key()


def status_of(exc: LinkNotUsable) -> int:
    """Return 410 for a genuine link past its lifetime, 404 for any other."""
    return 410 if exc.reason == links.EXPIRED else 404


def confirmation_unusable(exc: LinkNotUsable) -> Any:
    """Answer a confirmation link that is not (or no longer) usable."""
    lang = exc.language or language()
    key = "link.expired" if exc.reason == links.EXPIRED else "link.invalid"
    if answers.wants_json():
        return jsonify({"error": f"link_{exc.reason}", "message": t("en", key)}), status_of(exc)
    return render_template(
        "message.html", lang=lang, title=t(lang, "link.invalid_title"), text=t(lang, key),
        fields={}, link=("/subscribe?lang=" + lang, t(lang, "link.to_form")),
    ), status_of(exc)


def unsubscribe_unusable(exc: LinkNotUsable, *, undo: bool = False) -> Any:
    """Answer an unsubscribe (or undo) link that is not (or no longer) usable."""
    lang = language()
    if undo:
        text = t(lang, "resubscribe.expired" if exc.reason == links.EXPIRED else "link.invalid")
        link = (f"/subscribe?lang={lang}", t(lang, "link.to_form"))
    else:
        text = t(lang, "unsubscribe.invalid")
        link = (url_for("unsubscribe.link_form", lang=lang), t(lang, "unsubscribe.new_link"))
    if answers.wants_json():
        key = "unsubscribe.invalid" if not undo else "link.invalid"
        return jsonify({"error": f"link_{exc.reason}", "message": t("en", key)}), status_of(exc)
    return render_template("message.html", lang=lang, title=t(lang, "link.invalid_title"),
                           text=text, fields={}, link=link), status_of(exc)


def dispute_unusable() -> Any:
    """Answer a dispute link that is not usable, whatever is wrong with it (404)."""
    lang = language()
    return render_template("message.html", lang=lang, title=t(lang, "link.invalid_title"),
                           text=t(lang, "link.invalid"), fields={}), 404


def unusable(exc: LinkNotUsable) -> Any:
    """Answer a personal link that is not usable, as the page it was followed to answers."""
    endpoint = request.endpoint or ""
    if endpoint in CONFIRM_ENDPOINTS:
        return confirmation_unusable(exc)
    if request.blueprint == "dispute":
        return dispute_unusable()
    return unsubscribe_unusable(exc, undo=endpoint in UNDO_ENDPOINTS)

"""Staff pages under /staff/, by area: signing in (signin), the rights of the person (people)
and the admin pages (admin).

This blueprint holds what every staff page shares: the session (its language, expiry and
CSRF check), the headers, and the answers to a bad form token or an unknown person. Handlers
parse the form, call one use case and render; the rules live in service.domain.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, g, redirect, request, session, url_for
from flask_wtf.csrf import CSRFError

from service.domain import rights, staff
from service.web.current import container
from service.web.extensions import csrf
from service.web.staff.admin import bp as admin_pages
from service.web.staff.pages import page, session_expired, signed_in_account, w
from service.web.staff.people import bp as people_pages
from service.web.staff.signin import bp as signin_pages
from service.web.staff.words import STAFF_LANGUAGES, words

__all__ = ["STAFF_CSP", "bp", "signed_in_account"]

STAFF_CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
             "base-uri 'none'; frame-ancestors 'none'")

bp = Blueprint("staff", __name__, url_prefix="/staff")
bp.register_blueprint(signin_pages)
bp.register_blueprint(people_pages)
bp.register_blueprint(admin_pages)


def _staff_language() -> str:
    """Choose the page language: ?lang= (remembered), the session's, the default, Finnish."""
    wanted = (request.args.get("lang") or "").lower()
    if wanted in STAFF_LANGUAGES:
        session["lang"] = wanted
    chosen = session.get("lang")
    if chosen not in STAFF_LANGUAGES:
        default = container().settings.default_language
        chosen = default if default in STAFF_LANGUAGES else "fi"
    return str(chosen)


def _end_session(chosen: str) -> None:
    """Forget the session, keeping its language, and say it has expired."""
    session.clear()
    session["lang"] = chosen
    flash(words(chosen, "login.expired"))


@bp.before_request
def _load_session() -> None:
    """Check the form token, then find the signed-in account if its session still holds."""
    chosen = g.staff_language = _staff_language()
    g.staff = None
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()
    uid = session.get("uid")
    if uid is None:
        return
    now = container().clock.now().timestamp()
    if session_expired(now):
        _end_session(chosen)
        return
    account = staff.get_account(container().uow(), int(uid))
    if not staff.session_is_current(account, session.get("epoch")):
        # Logged out elsewhere, password changed, TOTP reset or account disabled: a copy
        # of this cookie must stop working too, so the account's epoch decides, not the
        # cookie.
        _end_session(chosen)
        return
    g.staff = account
    session["seen_at"] = now


@bp.after_request
def _headers(response: Response) -> Response:
    """Keep staff pages to this site, out of caches."""
    response.headers["Content-Security-Policy"] = g.get("csp", STAFF_CSP)
    # The same-origin Referer lets the CSRF check work over https; nothing leaves the site.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(CSRFError)
def _csrf(_exc: CSRFError) -> Any:
    """Answer a missing or expired form token with a page saying so."""
    return page("message.html", 400, title=w("csrf"), text=w("csrf"))


@bp.errorhandler(rights.ContactNotFound)
def _not_found(_exc: rights.ContactNotFound) -> Any:
    """Answer a person not (or no longer) held."""
    return page("message.html", 404, title=w("not_found"), text=w("not_found"))


@bp.get("/")
def home() -> Any:
    """Send a signed-in person to the home page (search and overview), anyone else to login."""
    return redirect(url_for("staff.people.search" if g.staff else "staff.signin.login"))

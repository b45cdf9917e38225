"""Signing in and out: the password, the second step (TOTP or a recovery code), TOTP enrolment
with its recovery codes, and one's own account and password."""

from __future__ import annotations

from typing import Any

import segno
from flask import Blueprint, flash, g, redirect, request, session, url_for

from service.domain import staff
from service.domain.normalize import InvalidInput
from service.domain.staff import LoginFailed, LoginStep, StaffInfo
from service.web.current import client_ip, container
from service.web.extensions import limiter
from service.web.staff.pages import (
    PENDING_TIMEOUT,
    lang,
    me,
    now_ts,
    page,
    problems,
    signed_in,
    w,
)

LOGIN_RATE_LIMIT = "30/minute;300/hour"

bp = Blueprint("signin", __name__)


def start_session(account: StaffInfo) -> Any:
    """Sign the account in (a new session) and go where the person was heading, or search."""
    chosen = lang()
    target = session.get("next")
    session.clear()
    session.permanent = True
    session["uid"] = account.id
    session["epoch"] = account.session_epoch
    session["auth_at"] = session["seen_at"] = now_ts()
    session["lang"] = chosen
    if isinstance(target, str) and target.startswith("/staff/") and "//" not in target:
        return redirect(target)
    return redirect(url_for("staff.people.search"))


def pending(step: LoginStep) -> int | None:
    """Return the account half-way through signing in at step, if that login still holds."""
    uid = session.get("pending_uid")
    if uid is None or session.get("pending_step") != step.value:
        return None
    if now_ts() - float(session.get("pending_at", 0)) > PENDING_TIMEOUT.total_seconds():
        return None
    # A password change (or disabling) meanwhile ends a half-finished login too.
    if not staff.session_is_current(staff.get_account(container().uow(), int(uid)),
                                    session.get("pending_epoch")):
        return None
    return int(uid)


def enrolling() -> StaffInfo | None:
    """Return the account setting up TOTP: the signed-in one, or one whose login requires it."""
    if g.staff is not None:
        return me()
    uid = pending(LoginStep.ENROL)
    if uid is None:
        return None
    return staff.get_account(container().uow(), uid)


def enrol_page(account: StaffInfo, status: int = 200, error: str | None = None) -> Any:
    """Show the QR code and key of the secret on offer (a new one the first time)."""
    secret = session.get("enrol_secret")
    if not isinstance(secret, str):
        offer = staff.new_enrolment(account)
        secret = session["enrol_secret"] = offer.secret
    uri = staff.new_enrolment(account, secret).uri
    qr = segno.make(uri, error="m").svg_inline(scale=4, dark="#1b1b1b", light="#ffffff")
    return page("enrol.html", status, qr=qr, secret=secret, error=error,
                required=g.staff is None)


@bp.get("/login")
def login() -> Any:
    """Show the login form."""
    if g.staff is not None:
        return redirect(url_for("staff.people.search"))
    nxt = request.args.get("next")
    if nxt:
        session["next"] = nxt
    return page("login.html")


@bp.post("/login")
@limiter.limit(LOGIN_RATE_LIMIT)
def login_post() -> Any:
    """Check the password; continue to the code, to enrolment, or in."""
    app_container = container()
    try:
        outcome = staff.check_password(
            app_container.uow(), app_container.deps, request.form.get("name", ""),
            request.form.get("password", ""), policy=app_container.settings.require_totp,
            ip=client_ip(),
        )
    except LoginFailed:
        # The name stays typed: only the password was wrong, or one of the two.
        return page("login.html", 401, error=w("login.failed"),
                    name=request.form.get("name", ""))
    if outcome.step == LoginStep.DONE:
        return start_session(outcome.account)
    nxt = session.get("next")
    session.clear()
    session["lang"] = lang()
    if nxt:
        session["next"] = nxt
    session["pending_uid"] = outcome.account.id
    session["pending_epoch"] = outcome.account.session_epoch
    session["pending_at"] = now_ts()
    session["pending_step"] = outcome.step.value
    if outcome.step == LoginStep.ENROL:
        return redirect(url_for("staff.signin.enrol"))
    return redirect(url_for("staff.signin.code"))


@bp.get("/login/code")
def code() -> Any:
    """Ask for the second step."""
    if pending(LoginStep.TOTP) is None:
        return redirect(url_for("staff.signin.login"))
    return page("code.html")


@bp.post("/login/code")
@limiter.limit(LOGIN_RATE_LIMIT)
def code_post() -> Any:
    """Check a TOTP or recovery code and sign in."""
    uid = pending(LoginStep.TOTP)
    if uid is None:
        return redirect(url_for("staff.signin.login"))
    try:
        account = staff.verify_second_factor(container().uow(), container().deps, uid,
                                             request.form.get("code", ""), ip=client_ip())
    except LoginFailed:
        return page("code.html", 401, error=w("code.failed"))
    return start_session(account)


@bp.get("/totp")
def enrol() -> Any:
    """Show the QR code and key of a new TOTP secret."""
    account = enrolling()
    if account is None:
        return redirect(url_for("staff.signin.login"))
    if account.totp_enabled:
        return page("message.html", title=w("enrol.title"), text=w("enrol.enabled"))
    return enrol_page(account)


@bp.post("/totp")
@limiter.limit(LOGIN_RATE_LIMIT)
def enrol_post() -> Any:
    """Turn two-step login on once a code from the new secret checks."""
    account = enrolling()
    secret = session.get("enrol_secret")
    if account is None or not isinstance(secret, str):
        return redirect(url_for("staff.signin.login"))
    try:
        info, codes = staff.confirm_enrolment(container().uow(), container().deps, account.id,
                                              secret, request.form.get("code", ""),
                                              ip=client_ip())
    except InvalidInput as exc:
        return enrol_page(account, 422, error=problems(exc).get("code"))
    session.pop("enrol_secret", None)
    if g.staff is None:
        start_session(info)
    return page("recovery.html", codes=codes)


@bp.post("/logout")
def logout() -> Any:
    """End every session of the account, this one and any copy of its cookie."""
    if g.staff is not None:
        staff.log_out(container().uow(), container().deps, me(), ip=client_ip())
    chosen = lang()
    session.clear()
    session["lang"] = chosen
    return redirect(url_for("staff.signin.login"))


@bp.get("/account")
@signed_in
def account() -> Any:
    """Show the signed-in person's own account."""
    return page("account.html", errors={})


@bp.post("/account/password")
@signed_in
@limiter.limit(LOGIN_RATE_LIMIT)
def change_password() -> Any:
    """Change one's own password (the current one is asked again)."""
    new = request.form.get("new", "")
    if new != request.form.get("again", ""):
        return page("account.html", 422, errors={"again": w("account.mismatch")})
    try:
        changed = staff.change_password(container().uow(), container().deps, me().id,
                                        request.form.get("current", ""), new, ip=client_ip())
    except InvalidInput as exc:
        return page("account.html", 422, errors=problems(exc))
    except LoginFailed:
        return page("account.html", 401, errors={"current": w("account.wrong")})
    # Every other session has ended; this one has just proven the password and goes on.
    session["epoch"] = changed.session_epoch
    flash(w("account.changed"))
    return redirect(url_for("staff.signin.account"))

"""What every staff page shares: its words, its rendering, the signed-in account and the checks
that a page is for a signed-in person, or for an admin."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar, cast

from flask import g, get_flashed_messages, redirect, render_template, request, session, url_for

from service.domain import staff
from service.domain.normalize import InvalidInput
from service.domain.staff import StaffInfo
from service.web import answers
from service.web.current import container
from service.web.staff.words import field_label, page_words

# A signed-in session ends after this long without a request, and in any case after the second.
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
# A pending second step (password given, code not yet) must be finished this quickly.
PENDING_TIMEOUT = timedelta(minutes=5)

F = TypeVar("F", bound=Callable[..., Any])


def now_ts() -> float:
    """Return the container clock's now as a Unix timestamp."""
    return container().clock.now().timestamp()


def session_expired(now: float) -> bool:
    """Tell whether this request's staff session has been idle or open too long."""
    started, seen = float(session.get("auth_at", 0)), float(session.get("seen_at", 0))
    return now - seen > IDLE_TIMEOUT.total_seconds() or \
        now - started > ABSOLUTE_TIMEOUT.total_seconds()


def signed_in_account() -> StaffInfo | None:
    """Return the account this request's staff session belongs to, if it is one that holds.

    Reads only: for pages outside /staff/ that show more to staff (the readiness details).
    """
    uid = session.get("uid")
    if uid is None or session_expired(now_ts()):
        return None
    account = staff.get_account(container().uow(), int(uid))
    return account if staff.session_is_current(account, session.get("epoch")) else None


def lang() -> str:
    """Return the language of this staff page."""
    return str(g.get("staff_language", "fi"))


def w(key: str, **values: Any) -> str:
    """Return a staff page text in this page's language."""
    return page_words(key, **values)


def page(template: str, status: int = 200, **context: Any) -> Any:
    """Render a staff page with its words, the signed-in person and the flashed messages."""
    return render_template(
        f"staff/{template}", lang=lang(), w=w, me=g.get("staff"),
        org=container().settings.organization, messages=get_flashed_messages(),
        label=lambda field: field_label(lang(), field), **context,
    ), status


def problems(exc: InvalidInput) -> dict[str, str]:
    """Say what is wrong with each field, once per field, in this page's language."""
    found: dict[str, str] = {}
    for p in exc.problems:
        found.setdefault(p.field, answers.problem_words(lang(), p))
    return found


def me() -> StaffInfo:
    """Return the signed-in account (on a page behind signed_in or admin_only)."""
    return cast(StaffInfo, g.staff)


def to_login() -> Any:
    """Send the person to the login, coming back here afterwards."""
    return redirect(url_for("staff.signin.login", next=request.path))


def signed_in(view: F) -> F:
    """Let only a signed-in person see the page; send anyone else to the login."""
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.staff is None:
            return to_login()
        return view(*args, **kwargs)
    return cast(F, wrapper)


def admin_only(view: F) -> F:
    """Let only a signed-in admin see the page; others are sent to the login or refused."""
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.staff is None:
            return to_login()
        if not g.staff.is_admin:
            return page("message.html", 403, title=w("forbidden"), text=w("forbidden"))
        return view(*args, **kwargs)
    return cast(F, wrapper)

"""Helpers for staff-page tests: accounts, CSRF tokens from pages, logging in."""

from __future__ import annotations

import re
from typing import Any

import pyotp

from service.domain import staff
from service.domain.ledger import Actor
from service.domain.models import ActorType

PASSWORD = "correct horse battery staple"
CLI = Actor(ActorType.SYSTEM, "test")


def add_account(container: Any, name: str, *, admin: bool = False,
                password: str = PASSWORD) -> staff.StaffInfo:
    """Create an account directly through the use case."""
    return staff.create_account(container.uow(), container.deps, name, password, admin=admin,
                                actor=CLI)


def csrf_from(html: str) -> str:
    """Return the CSRF token of the first form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def token_for(client: Any, path: str) -> str:
    """GET a page and return its form's CSRF token."""
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return csrf_from(response.get_data(as_text=True))


def post_form(client: Any, path: str, data: dict[str, Any], *, page: str | None = None) -> Any:
    """POST a staff form with the token the page it lives on hands out."""
    token = token_for(client, page or path)
    return client.post(path, data={**data, "csrf_token": token})


def login(client: Any, name: str, password: str = PASSWORD) -> Any:
    """Log in with a password only."""
    return post_form(client, "/staff/login", {"name": name, "password": password})


def enrol_and_login(client: Any, clock: Any, name: str, password: str = PASSWORD) -> tuple[str,
                                                                                          list[str]]:
    """Log in as an account that must enrol; return its TOTP secret and recovery codes."""
    response = login(client, name, password)
    assert response.status_code == 302 and response.headers["Location"].endswith("/staff/totp")
    page = client.get("/staff/totp").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page)
    assert secret
    code = pyotp.TOTP(secret.group(1)).at(clock.now())
    done = client.post("/staff/totp", data={"code": code, "csrf_token": csrf_from(page)})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([0-9a-f]{8}-[0-9a-f]{8})</code></li>",
                       done.get_data(as_text=True))
    return secret.group(1), codes


def audit_actions(container: Any) -> list[str]:
    """Return every audit action in order."""
    from sqlalchemy import select

    from service.domain.models import AuditEntry

    with container.session_factory() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))

"""Liveness and readiness."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.bootstrap import Container
from service.domain import apikeys
from service.domain import health as health_core
from service.web.current import client_ip, container
from service.web.staff.pages import signed_in_account

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """Answer that the process is alive."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Any:
    """Answer 200 whenever the database answers, and how long asking it took.

    The queue's and the mirror's state (backlog, parked items per kind, the mirror's last
    success and error) are details for staff: shown with an API key or a staff login, since a
    mirror error names files, spreadsheets and service accounts. Parked outbox items (which no
    retry will send) call for a person, not for taking the service out of rotation.
    """
    app_container = container()
    try:
        # Before the session below opens: on SQLite a transaction holds the write lock.
        details = _may_see_details(app_container)
        started = time.perf_counter()
        with app_container.session_factory() as session:
            session.execute(text("SELECT 1"))
            checked = round((time.perf_counter() - started) * 1000, 1)
            report = health_core.readiness(session, now=app_container.clock.now()) \
                if details else {}
    except SQLAlchemyError:
        return jsonify({"status": "unavailable", "database": "not answering"}), 503
    return jsonify({"status": "ok", "database": "ok", "database_ms": checked, **report})


def _may_see_details(app_container: Container) -> bool:
    """Tell whether the caller shows an API key or a staff login (a probe shows neither)."""
    secret = apikeys.bearer_secret(request.headers.get("Authorization"))
    if secret is None:
        return signed_in_account() is not None
    try:
        apikeys.authorize(app_container.uow(), secret, apikeys.Role.READER,
                          now=app_container.clock.now(), ip=client_ip(), action="health.read",
                          audit_success=False)
    except (apikeys.NotAuthenticated, apikeys.NotAllowed):
        return False
    return True

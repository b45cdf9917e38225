"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.domain import health as health_core

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """Answer that the process is alive."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Any:
    """Answer 200 whenever the database answers, with the queue's and the mirror's state.

    Parked outbox items (which no retry will send) are counted per kind under outbox.parked;
    they call for a person, not for taking the service out of rotation.
    """
    container = current_app.extensions["consent"]
    try:
        with container.session_factory() as session:
            session.execute(text("SELECT 1"))
            report = health_core.readiness(session, now=container.clock.now())
    except SQLAlchemyError:
        return jsonify({"status": "unavailable", "database": "not answering"}), 503
    return jsonify({"status": "ok", "database": "ok", **report})

"""The benchmark's baseline: a Flask app that does one INSERT per request and answers 202.

It is served by gunicorn with exactly the settings the real service gets (see bench/optin.py)
and uses the service's own engine factory, so the pool (size, overflow, pre-ping) is the same.
It reads the database URL from CONSENT_DATABASE_URL; the table is created by bench/optin.py.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from flask import Flask, jsonify, request
from sqlalchemy import text

from service.db import make_engine

TABLE = "bench_baseline_optin"
CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    "id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL)"
)
INSERT = text("INSERT INTO bench_baseline_optin (email, created_at) VALUES (:email, :at)")


def create_app() -> Flask:
    """Return the baseline app bound to the database named by CONSENT_DATABASE_URL."""
    engine = make_engine(os.environ["CONSENT_DATABASE_URL"])
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify({"status": "ok"})

    @app.post("/api/v1/subscribe")
    def subscribe() -> Any:
        body = request.get_json(force=True, silent=True)
        email = body.get("email") if isinstance(body, dict) else None
        if not isinstance(email, str) or "@" not in email:
            return jsonify({"error": "invalid_input"}), 400
        with engine.begin() as conn:
            conn.execute(INSERT, {"email": email, "at": datetime.now(UTC)})
        return jsonify({"status": "pending"}), 202

    return app

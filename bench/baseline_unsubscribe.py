"""The unsubscribe benchmark's baseline: verify an itsdangerous token, run one UPDATE, answer 200.

It is what a one-click unsubscribe costs at the least: the same token (URLSafeSerializer, the
service's salt and key, so the very tokens the service accepts), one UPDATE of the contact's
subscription row, and a short text answer. It is served by gunicorn with exactly the settings
the real service gets (see bench/unsubscribe.py) and uses the service's own engine factory, so
the connection pool is the same. It reads CONSENT_DATABASE_URL and CONSENT_SECRET_KEYS.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from flask import Flask, jsonify, request
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import text

from service.db import make_engine

SALT = "consent.unsubscribe"
UPDATE = text(
    "UPDATE subscriptions SET state = 'unsubscribed', since = :at, method = 'one_click' "
    "WHERE channel = :channel "
    "AND contact_id = (SELECT id FROM contacts WHERE public_id = :public_id)"
)


def create_app() -> Flask:
    """Return the baseline app bound to the database named by CONSENT_DATABASE_URL."""
    engine = make_engine(os.environ["CONSENT_DATABASE_URL"])
    keys = [k.strip() for k in os.environ["CONSENT_SECRET_KEYS"].split(",") if k.strip()]
    serializer = URLSafeSerializer(keys, salt=SALT)
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify({"status": "ok"})

    @app.post("/unsubscribe/<token>")
    def unsubscribe(token: str) -> Any:
        if request.form.get("List-Unsubscribe") != "One-Click":
            return "not a one-click request\n", 400
        try:
            payload = serializer.loads(token)
        except BadData:
            return "invalid link\n", 404
        with engine.begin() as conn:
            conn.execute(UPDATE, {"at": datetime.now(UTC), "channel": payload["ch"],
                                  "public_id": payload["c"]})
        return "unsubscribed\n", 200, {"Content-Type": "text/plain; charset=utf-8"}

    return app

"""The same-work floor: the service's database work for an opt-in and a one-click, by hand.

A minimal Flask app that, per request, does what the service does to the database and no more:
the same statements in one transaction (so the same triggers fire: mirror notes, the chain's
queue), the same rate-limit check against the same storage, the same token signing and
verification (itsdangerous, the service's salts and keys) and the same answers. It is written
from the schema and from the rows the service writes, with plain psycopg 3, so it measures what
that work costs at the least. bench/floor_check.py proves it writes exactly the service's rows;
when the schema or the service changes, that check fails until this file follows.

It handles what the benchmarks send: a double opt-in of a new address by JSON
(`POST /api/v1/subscribe`), and an RFC 8058 one-click POST of a subscribed contact's email
link (`POST /unsubscribe/<token>`). Served by gunicorn with the service's settings, it reads
CONSENT_DATABASE_URL, CONSENT_SECRET_KEYS, CONSENT_PUBLIC_URL, CONSENT_OPTIN_RATE_LIMIT,
CONSENT_RATELIMIT_STORAGE_URL, CONSENT_MAIL_FROM and CONSENT_DEFAULT_LANGUAGE.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from flask import Flask, Response, jsonify, request
from itsdangerous import BadData, URLSafeSerializer, URLSafeTimedSerializer
from limits import parse_many
from limits.storage import Storage, storage_from_string

from service.web import ratelimit

# The answer to a one-click, in the contact's language (the service's catalogue says the same;
# bench/floor_check.py compares the answers).
UNSUBSCRIBED = {"fi": "Tilaus on peruttu", "sv": "Prenumerationen har avslutats",
                "en": "You have been unsubscribed"}
ONE_CLICK_LIMIT = "10/minute;100/day"
MIRROR_DEBOUNCE = timedelta(seconds=1)
NOTICE_CACHE_SECONDS = 2.0
POOL_SIZE = 5

CONTACT_UPSERT = (
    "INSERT INTO contacts (public_id, email, email_key, name, phone, language, soft_bounces,"
    " created_at, updated_at) VALUES (%s, %s, %s, NULL, NULL, %s, 0, %s, %s)"
    " ON CONFLICT (email_key) DO UPDATE SET email_key = contacts.email_key"
    " RETURNING id, public_id, email, email_key, name, phone, language, email_undeliverable_at,"
    " soft_bounces, flagged_reason, created_at, updated_at, erased_at"
)
EVENT = (
    "INSERT INTO consent_events (contact_id, channel, kind, method, source, actor_type,"
    " actor_id, notice_version, notice_language, occurred_at)"
    " VALUES (%s, 'email', %s, %s, NULL, 'person', NULL, %s, %s, %s) RETURNING id"
)
EVIDENCE = (
    "INSERT INTO evidence (event_id, contact_id, ip, source_ip, user_agent, page_url,"
    " fields_json, note, recorded_at) VALUES (%s, %s, %s, NULL, %s, NULL, %s, NULL, %s)"
    " RETURNING id"
)
SUBSCRIPTION = (
    "INSERT INTO subscriptions (contact_id, channel, state, since, method, notice_version,"
    " witness, last_event_id, confirmation_sent_at)"
    " VALUES (%s, 'email', 'pending', %s, 'web_form', %s, NULL, %s, %s)"
)
OUTBOX = (
    "INSERT INTO outbox (kind, idempotency_key, coalesce_key, contact_id, payload_json, status,"
    " attempts, created_at, not_before) VALUES (%s, %s, %s, %s, %s, 'pending', 0, %s, %s)"
)
MAIL = OUTBOX + " ON CONFLICT (idempotency_key) DO NOTHING"
MIRROR_PASS = (OUTBOX + " ON CONFLICT (coalesce_key) WHERE status = 'pending'"
               " AND coalesce_key IS NOT NULL DO NOTHING")
NOTICE = "SELECT max(version) FROM notices"
LOCK_CONTACT = "SELECT id, language FROM contacts WHERE public_id = %s FOR UPDATE"
LOCK_SUBSCRIPTIONS = (
    "SELECT channel, state FROM subscriptions WHERE contact_id = %s FOR UPDATE"
)
TOUCH_CONTACT = "UPDATE contacts SET updated_at = %s WHERE id = %s"
WITHDRAW = (
    "UPDATE subscriptions SET state = 'unsubscribed', since = %s, method = 'one_click',"
    " last_event_id = %s WHERE contact_id = %s AND channel = %s"
)


class Pool:
    """A fixed set of psycopg connections shared by a worker's threads."""

    def __init__(self, url: str, size: int) -> None:
        """Open the connections."""
        self._idle: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue()
        for _ in range(size):
            self._idle.put(psycopg.connect(url))

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """Lend a connection for one transaction: committed at the end, rolled back on error."""
        conn = self._idle.get()
        try:
            with conn.transaction():
                yield conn
        finally:
            self._idle.put(conn)

    def close(self) -> None:
        """Close the idle connections."""
        while not self._idle.empty():
            self._idle.get_nowait().close()


class Floor:
    """What one worker holds: the pool, the signers, the rate-limit storage, the notice cache."""

    def __init__(self, env: dict[str, str]) -> None:
        """Read the service's settings from the environment."""
        url = env["CONSENT_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://", 1)
        self.pool = Pool(url, POOL_SIZE)
        keys = [k.strip() for k in env["CONSENT_SECRET_KEYS"].split(",") if k.strip()]
        self.confirm = URLSafeTimedSerializer(keys, salt="consent.confirm")
        self.unsubscribe = URLSafeSerializer(keys, salt="consent.unsubscribe")
        self.public_url = env.get("CONSENT_PUBLIC_URL", "http://localhost:8000").rstrip("/")
        self.sender = env.get("CONSENT_MAIL_FROM") or "noreply@localhost"
        self.language = env.get("CONSENT_DEFAULT_LANGUAGE", "fi")
        configured = env.get("CONSENT_RATELIMIT_STORAGE_URL", "memory://")
        storage = storage_from_string(ratelimit.storage_uri(configured),
                                      **ratelimit.storage_options(configured))
        assert isinstance(storage, Storage)
        self.storage = storage
        # The service's strategy: a link's two windows in one round trip.
        self.windows = ratelimit.CountedTogether(storage)
        self.optin_limits = parse_many(env.get("CONSENT_OPTIN_RATE_LIMIT", "10/minute"))
        self.one_click_limits = parse_many(ONE_CLICK_LIMIT)
        self._notice: tuple[float, int] = (0.0, 0)
        self._lock = threading.Lock()

    def notice_version(self, conn: psycopg.Connection[Any]) -> int:
        """Return the current notice version, read at most every 2 s (as the service does)."""
        read_at, version = self._notice
        if time.monotonic() - read_at < NOTICE_CACHE_SECONDS:
            return version
        row = conn.execute(NOTICE).fetchone()
        version = int(row[0]) if row and row[0] is not None else 1
        with self._lock:
            self._notice = (time.monotonic(), version)
        return version

    def allowed(self, key: str, scope: str, limits: list[Any]) -> bool:
        """Count one hit in each window, shortest first, stopping at the first one full."""
        return all(self.windows.hit(item, key, scope) for item in sorted(limits))

    def queue_webhook_event(self, conn: psycopg.Connection[Any], public_id: str, kind: str,
                            method: str, notice_version: int | None, state: str,
                            now: datetime) -> None:
        """Queue the consent event for the worker to fan out to webhook endpoints."""
        at = now.isoformat(timespec="microseconds").replace("+00:00", "Z")
        data = json.dumps({"contact_id": public_id, "channel": "email", "kind": kind,
                           "method": method, "source": None, "notice_version": notice_version,
                           "occurred_at": at, "state": state}, separators=(",", ":"))
        payload = json.dumps({"events": [{"type": f"consent.{kind}", "contact_id": public_id,
                                          "timestamp": at, "data": data, "personal": True}]},
                             sort_keys=True)
        conn.execute(MAIL, ("webhook.event", f"webhook.event:{uuid.uuid4().hex}", None, None,
                            payload, now, now))

    def queue_mirror_pass(self, conn: psycopg.Connection[Any], now: datetime) -> None:
        """Queue the (coalesced) mirror pass, last, as the service does."""
        key = f"mirror:{now.isoformat()}:{random.getrandbits(48):x}"
        conn.execute(MIRROR_PASS, ("mirror.pass", key, "mirror", None, "{}", now,
                                   now + MIRROR_DEBOUNCE))


def opt_in(floor: Floor) -> Any:
    """Record a double opt-in of a new address: contact, event, evidence, pending, mail."""
    if not floor.allowed(request.remote_addr or "", "public.subscribe", floor.optin_limits):
        return jsonify({"error": "rate_limited"}), 429
    body = request.get_json(force=True, silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    if not isinstance(email, str) or "@" not in email or body.get("consent") is not True:
        return jsonify({"error": "invalid_input"}), 400
    email = email.strip()
    fields = json.dumps({k: body[k] for k in ("consent", "email")}, sort_keys=True)
    now = datetime.now(UTC)
    lang = floor.language
    with floor.pool.transaction() as conn:
        version = floor.notice_version(conn)
        contact = conn.execute(CONTACT_UPSERT, (str(uuid.uuid4()), email, email.lower(), lang,
                                                now, now)).fetchone()
        assert contact is not None
        contact_id, public_id = contact[0], contact[1]
        event = conn.execute(EVENT, (contact_id, "requested", "web_form", version, lang,
                                     now)).fetchone()
        assert event is not None
        event_id = event[0]
        conn.execute(EVIDENCE, (event_id, contact_id, request.remote_addr,
                                request.headers.get("User-Agent"), fields, now))
        conn.execute(SUBSCRIPTION, (contact_id, now, version, event_id, now))
        token = floor.confirm.dumps({"c": public_id, "r": event_id, "ch": ["email"]})
        key = f"mail:confirm:{public_id}:{event_id}"
        domain = floor.sender.rpartition("@")[2] or "localhost"
        payload = json.dumps({
            "details": {"confirm_url": f"{floor.public_url}/confirm/{token}", "language": lang},
            "letter": "confirmation",
            "message_id": f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>",
            "recipients": [email], "sender": floor.sender,
        }, sort_keys=True)
        conn.execute(MAIL, ("mail", key, None, contact_id, payload, now, now))
        floor.queue_webhook_event(conn, public_id, "requested", "web_form", version, "pending",
                                  now)
        floor.queue_mirror_pass(conn, now)
    return jsonify({"status": "pending"}), 202


def one_click(floor: Floor, token: str) -> Any:
    """Withdraw the link's channel at once for a mail client's RFC 8058 POST."""
    if request.form.get("List-Unsubscribe", "").strip() != "One-Click":
        return "only one-click POSTs here\n", 400
    try:
        link = floor.unsubscribe.loads(token)
        key = "token:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    except BadData:
        link, key = None, "unsigned-link-from:" + (request.remote_addr or "")
    if not floor.allowed(key, "unsubscribe.withdraw", floor.one_click_limits):
        return "rate limited\n", 429
    if not isinstance(link, dict):
        return "invalid link\n", 404
    now = datetime.now(UTC)
    with floor.pool.transaction() as conn:
        contact = conn.execute(LOCK_CONTACT, (link["c"],)).fetchone()
        if contact is None:
            return "invalid link\n", 404
        contact_id, lang = contact
        states = dict(conn.execute(LOCK_SUBSCRIPTIONS, (contact_id,)).fetchall())
        if states.get(link["ch"]) in ("subscribed", "pending"):
            event = conn.execute(EVENT, (contact_id, "withdrawn", "one_click", None, None,
                                         now)).fetchone()
            assert event is not None
            conn.execute(EVIDENCE, (event[0], contact_id, request.remote_addr,
                                    request.headers.get("User-Agent"), None, now))
            floor.queue_mirror_pass(conn, now)
            conn.execute(TOUCH_CONTACT, (now, contact_id))
            conn.execute(WITHDRAW, (now, event[0], contact_id, link["ch"]))
            floor.queue_webhook_event(conn, link["c"], "withdrawn", "one_click", None,
                                      "unsubscribed", now)
    return Response(UNSUBSCRIBED.get(lang, UNSUBSCRIBED["en"]) + "\n", mimetype="text/plain")


def create_app(env: dict[str, str] | None = None) -> Flask:
    """Return the floor app, configured from the environment (or env)."""
    floor = Floor(dict(os.environ) if env is None else env)
    app = Flask(__name__)
    app.extensions["floor"] = floor

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify({"status": "ok"})

    app.add_url_rule("/api/v1/subscribe", "subscribe", lambda: opt_in(floor),
                     methods=["POST"])
    app.add_url_rule("/unsubscribe/<token>", "withdraw",
                     lambda token: one_click(floor, token), methods=["POST"])
    return app

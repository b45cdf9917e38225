"""The staff API, with a staff key as `Authorization: Bearer <key>`: verbal consents and people."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask_limiter import Limiter

from service.bootstrap import Container
from service.domain import apikeys, rights, verbal
from service.domain.apikeys import KeyInfo, NotAllowed, NotAuthenticated, Role
from service.domain.normalize import FieldProblem, InvalidInput
from service.web import client_ip
from service.web.api import throttle_refused_calls
from service.web.public import read_fields

REALM = 'Bearer realm="consent-register"'


def build_blueprint(app_container: Container, limiter: Limiter) -> Blueprint:
    """Return the staff API blueprint; each call leaves exactly one audit entry."""
    bp = Blueprint("staff_api", __name__)
    throttle_refused_calls(limiter, bp)
    deps = app_container.deps

    def authorize(action: str) -> KeyInfo:
        # The use case writes the audit entry (with the contact); the key check writes one
        # only when it refuses.
        return apikeys.authorize(
            app_container.uow(), apikeys.bearer_secret(request.headers.get("Authorization")),
            Role.STAFF, now=app_container.clock.now(), ip=client_ip(), action=action,
            audit_success=False,
        )

    @bp.errorhandler(NotAuthenticated)
    def _unauthenticated(exc: NotAuthenticated) -> Any:
        response = jsonify({"error": "unauthorized",
                            "message": "send a valid API key as Authorization: Bearer <key>"})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = REALM
        return response

    @bp.errorhandler(NotAllowed)
    def _forbidden(exc: NotAllowed) -> Any:
        if exc.reason == "revoked":
            return jsonify({"error": "key_revoked", "message": "this API key has been revoked"}
                           ), 403
        return jsonify({"error": "insufficient_role",
                        "message": "this API key's role may not do this; a staff key is needed"}
                       ), 403

    @bp.errorhandler(rights.ContactNotFound)
    def _missing(exc: rights.ContactNotFound) -> Any:
        return jsonify({"error": "not_found", "message": "no such contact (or it was erased)"}
                       ), 404

    @bp.post("/api/v1/consents")
    def record_consent() -> Any:
        """Record a consent given out loud, witnessed by the key's owner; mail the receipt."""
        key = authorize("consent.verbal")
        form = verbal.parse_verbal_consent(read_fields(),
                                           default_language=app_container.settings
                                           .default_language)
        outcome = verbal.record_verbal_consent(
            app_container.uow(), deps, form, key.actor, witness=f"api key {key.name}"[:100],
            ip=client_ip(), user_agent=request.user_agent.string or None, source="api",
        )
        return jsonify({"status": "subscribed", "contact_id": outcome.contact_id,
                        "channels": list(outcome.channels), "notice": outcome.notice_version,
                        "receipt_sent": outcome.receipt_sent}), 201

    def answer_lookup(key: KeyInfo, raw_email: object) -> Any:
        if not isinstance(raw_email, str):
            raise InvalidInput([FieldProblem("email", "must be a string")])
        found = rights.find_by_email(app_container.uow(), deps, raw_email, key.actor,
                                     ip=client_ip())
        if found is None:
            return jsonify({"error": "not_found", "message": "no contact has this address"}), 404
        return jsonify(found)

    @bp.post("/api/v1/contacts/lookup")
    def lookup_by_body() -> Any:
        """Find a contact by exact email address sent in the body, out of URLs and their logs."""
        key = authorize("contact.lookup")
        return answer_lookup(key, read_fields().get("email", ""))

    @bp.get("/api/v1/contacts")
    def lookup() -> Any:
        """Find a contact by exact email address in ?email= (kept for existing callers).

        The address ends up in the URL, which proxies in front log; the POST above keeps it out.
        """
        key = authorize("contact.lookup")
        return answer_lookup(key, request.args.get("email", ""))

    @bp.get("/api/v1/contacts/<public_id>")
    def view(public_id: str) -> Any:
        """Return everything held on a contact (the viewing is logged)."""
        key = authorize("contact.view")
        return jsonify(rights.view_contact(app_container.uow(), deps, public_id, key.actor,
                                           ip=client_ip()))

    @bp.get("/api/v1/contacts/<public_id>/export")
    def export(public_id: str) -> Any:
        """Export everything held on a contact as JSON (default), CSV or JSON-LD (?format=)."""
        key = authorize("contact.export")
        fmt = (request.args.get("format") or "json").strip().lower()
        body = rights.export_contact(app_container.uow(), deps, public_id, key.actor,
                                     ip=client_ip(), fmt=fmt)
        return Response(body, mimetype=rights.EXPORT_MEDIA_TYPES[fmt],
                        headers={"Content-Disposition":
                                 f'attachment; filename="contact-{public_id}.{fmt}"'})

    return bp

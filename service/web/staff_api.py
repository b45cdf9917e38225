"""The staff API, with a staff key as `Authorization: Bearer <key>`: verbal consents and people."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from service.domain import apikeys, rights, verbal
from service.domain.apikeys import KeyInfo, NotAllowed, NotAuthenticated, Role
from service.domain.normalize import FieldProblem, InvalidInput
from service.web.api import REALM, answer_not_allowed, throttle_refused_calls
from service.web.current import client_ip, container, read_fields

bp = Blueprint("staff_api", __name__)
throttle_refused_calls(bp)
bp.register_error_handler(NotAllowed, answer_not_allowed)


def authorize(action: str) -> KeyInfo:
    """Check the caller's key is a staff key; only a refusal is audited here."""
    # The use case writes the audit entry (with the contact); the key check writes one
    # only when it refuses.
    return apikeys.authorize(
        container().uow(), apikeys.bearer_secret(request.headers.get("Authorization")),
        Role.STAFF, now=container().clock.now(), ip=client_ip(), action=action,
        audit_success=False,
    )


@bp.errorhandler(NotAuthenticated)
def _unauthenticated(_exc: NotAuthenticated) -> Any:
    """Answer 401 to a call without a valid key."""
    response = jsonify({"error": "unauthorized",
                        "message": "send a valid API key as Authorization: Bearer <key>"})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = REALM
    return response


@bp.errorhandler(rights.ContactNotFound)
def _missing(_exc: rights.ContactNotFound) -> Any:
    """Answer 404 for a contact not (or no longer) held."""
    return jsonify({"error": "not_found", "message": "no such contact (or it was erased)"}
                   ), 404


@bp.post("/api/v1/consents")
def record_consent() -> Any:
    """Record a consent given out loud, witnessed by the key's owner; mail the receipt."""
    key = authorize("consent.verbal")
    app_container = container()
    form = verbal.parse_verbal_consent(
        read_fields(), default_language=app_container.settings.default_language)
    outcome = verbal.record_verbal_consent(
        app_container.uow(), app_container.deps, form, key.actor,
        witness=f"api key {key.name}"[:100], ip=client_ip(),
        user_agent=request.user_agent.string or None, source="api",
    )
    return jsonify({"status": "subscribed", "contact_id": outcome.contact_id,
                    "channels": list(outcome.channels), "notice": outcome.notice_version,
                    "receipt_sent": outcome.receipt_sent}), 201


def answer_lookup(key: KeyInfo, raw_email: object) -> Any:
    """Answer the contact with this exact address, or 404."""
    if not isinstance(raw_email, str):
        raise InvalidInput([FieldProblem("email", "must be a string")])
    found = rights.find_by_email(container().uow(), container().deps, raw_email, key.actor,
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
    return jsonify(rights.view_contact(container().uow(), container().deps, public_id,
                                       key.actor, ip=client_ip()))


@bp.get("/api/v1/contacts/<public_id>/export")
def export(public_id: str) -> Any:
    """Export everything held on a contact as JSON (default), CSV or JSON-LD (?format=)."""
    key = authorize("contact.export")
    fmt = (request.args.get("format") or "json").strip().lower()
    body = rights.export_contact(container().uow(), container().deps, public_id, key.actor,
                                 ip=client_ip(), fmt=fmt)
    return Response(body, mimetype=rights.EXPORT_MEDIA_TYPES[fmt],
                    headers={"Content-Disposition":
                             f'attachment; filename="contact-{public_id}.{fmt}"'})

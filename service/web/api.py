"""The API for other systems, with `Authorization: Bearer <api key>`: the register, withdrawals."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, jsonify, request

from service.bootstrap import Container
from service.domain import apikeys, register, unsubscribe
from service.domain.apikeys import NotAllowed, NotAuthenticated, Role
from service.domain.normalize import FieldProblem, InvalidInput
from service.web.current import client_ip, container, read_fields
from service.web.extensions import limiter

REALM = 'Bearer realm="consent-register"'
CSV_BATCH = 1000
# Refused calls (401, 403) per caller IP, shared by the register API and the staff API: a
# caller guessing keys is slowed down, and one whose key works is never counted. (While an IP
# is over the limit, its calls are all answered 429 until the window ends.)
REFUSED_CALL_LIMIT = "10/minute"
REFUSED_CALL_SCOPE = "api-refused"


def refused(response: Response) -> bool:
    """Tell whether an answer refused the caller's key (it counts against the IP's limit)."""
    return response.status_code in (401, 403)


def throttle_refused_calls(bp: Blueprint) -> None:
    """Limit the blueprint's refused calls per caller IP, in one counter for every API."""
    limiter.shared_limit(REFUSED_CALL_LIMIT, scope=REFUSED_CALL_SCOPE, key_func=client_ip,
                         deduct_when=refused)(bp)


def answer_not_allowed(exc: NotAllowed) -> Any:
    """Answer 403 to a revoked key, or to a key whose role may not do this."""
    if exc.reason == "revoked":
        body = {"error": "key_revoked", "message": "this API key has been revoked"}
    else:
        body = {"error": "insufficient_role",
                "message": "this API key's role may not do this; a staff key is needed"}
    return jsonify(body), 403


bp = Blueprint("api", __name__)
throttle_refused_calls(bp)
bp.register_error_handler(NotAllowed, answer_not_allowed)


def authorize(role: Role, action: str, detail: dict[str, Any] | None = None,
              *, audit_success: bool = True) -> apikeys.KeyInfo:
    """Check the caller's key for role, auditing the call as action."""
    app_container = container()
    return apikeys.authorize(
        app_container.uow(), apikeys.bearer_secret(request.headers.get("Authorization")),
        role, now=app_container.clock.now(), ip=client_ip(), action=action, detail=detail,
        audit_success=audit_success,
    )


@bp.errorhandler(NotAuthenticated)
def _unauthenticated(_exc: NotAuthenticated) -> Any:
    """Answer 401, saying whether the key presented was wrong (RFC 6750)."""
    presented = apikeys.bearer_secret(request.headers.get("Authorization")) is not None
    response = jsonify({
        "error": "unauthorized",
        "message": "send a valid API key as Authorization: Bearer <key>",
    })
    response.status_code = 401
    response.headers["WWW-Authenticate"] = REALM + (
        ', error="invalid_token"' if presented else ""
    )
    return response


def wants_csv() -> bool:
    """Tell whether the caller asks for CSV (?format=, else Accept) rather than JSON."""
    fmt = (request.args.get("format") or "").strip().lower()
    if fmt:
        if fmt not in ("json", "csv"):
            raise InvalidInput([FieldProblem("format", "must be json or csv")])
        return fmt == "csv"
    best = request.accept_mimetypes.best_match(["application/json", "text/csv"])
    return best == "text/csv"


@bp.get("/api/v1/register")
def read_register() -> Any:
    """Hand out who may be contacted now on a channel: JSON pages or a streamed CSV."""
    try:
        query: register.RegisterQuery | None = register.parse_query(
            request.args.get("channel"), request.args.get("cursor"),
            request.args.get("limit"),
        )
        csv_wanted = wants_csv()
        problem = None
    except InvalidInput as exc:
        query, csv_wanted, problem = None, False, exc
    detail: dict[str, Any] = {"invalid_query": True} if query is None else {
        "channel": query.channel, "format": "csv" if csv_wanted else "json",
        "cursor": str(query.after) if query.after else None,
    }
    authorize(Role.READER, "register.read", detail)
    if problem is not None or query is None:
        raise problem or InvalidInput([])
    if csv_wanted:
        return Response(
            csv_stream(query), mimetype="text/csv",
            headers={"Content-Disposition":
                     f'attachment; filename="register-{query.channel}.csv"'},
        )
    page = register.read_page(container().uow(), container().deps, query)
    return jsonify({
        "channel": page.channel,
        "items": [register.as_record(r) for r in page.recipients],
        "next_cursor": page.next_cursor,
    })


def csv_stream(query: register.RegisterQuery) -> Iterator[bytes]:
    """Return the CSV of the register, to stream batch by batch."""
    # The container is read now: the batches are written after the request context has gone.
    return csv_batches(container(), query)


def csv_batches(app_container: Container, query: register.RegisterQuery) -> Iterator[bytes]:
    """Yield the CSV batch by batch, each batch read with a fresh session."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(register.CSV_FIELDS[query.channel])
    for batch in register.stream_recipients(app_container.uow, app_container.deps, query,
                                            batch=CSV_BATCH):
        writer.writerows(register.csv_row(r) for r in batch)
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


@bp.post("/api/v1/withdrawals")
def withdraw() -> Any:
    """Withdraw on a person's request (staff key); the answer is the same for any address."""
    key = authorize(Role.STAFF, "withdrawal.request", audit_success=False)
    wanted = unsubscribe.parse_withdrawal_request(read_fields())
    channels = unsubscribe.withdraw_on_request(
        container().uow(), container().deps, wanted, key.actor, ip=client_ip()
    )
    return jsonify({"status": "withdrawn", "channels": list(channels)})

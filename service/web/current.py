"""The request being answered: its app's container, the caller, its language and its fields.

Every blueprint reaches the container through `container()` here and nowhere else.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from service.bootstrap import Container
from service.domain.optin import RequestContext
from service.settings import Settings
from service.web import inputs

EXTENSION = "consent"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def container() -> Container:
    """Return the container of the app answering this request."""
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def settings() -> Settings:
    """Return the settings of the app answering this request."""
    return container().settings


def client_ip() -> str:
    """Return the caller's IP (after the trusted proxies, if any)."""
    return request.remote_addr or "unknown"


def language() -> str:
    """Return the page language chosen for this request (see answers.page_language)."""
    return str(g.get("language", "fi"))


def request_context() -> RequestContext:
    """Return who is asking, for the evidence."""
    return RequestContext(ip=request.remote_addr, user_agent=request.user_agent.string or None)


def read_fields() -> dict[str, Any]:
    """Read a JSON object or a form into a dict; multi-valued form fields become lists."""
    if request.mimetype == "application/json":
        # The input checks before the view parsed it already (Flask keeps what it parsed); only
        # a body that did not parse is read again, to say why.
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            return body
        try:
            body = inputs.loads(request.get_data())
        except inputs.JsonTooDeep as exc:
            raise BadRequest(str(exc)) from None
        except ValueError:
            raise BadRequest("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the JSON body must be an object of fields")
        return body
    if request.mimetype in FORM_TYPES:
        fields: dict[str, Any] = {}
        for key in request.form:
            values = request.form.getlist(key)
            fields[key] = values if key == "channels" else values[-1]
        return fields
    raise UnsupportedMediaType()

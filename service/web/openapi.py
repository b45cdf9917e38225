"""The OpenAPI document describing the HTTP API."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from service.web.current import settings

bp = Blueprint("openapi", __name__)

ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"},
                   "description": "each field at fault and what is wrong with it"},
    },
}

# Every 429 says how long to wait: until the rate limit's window ends.
RETRY_AFTER = {"Retry-After": {"description": "seconds until another request may be made",
                               "schema": {"type": "integer", "minimum": 1}}}
SUBSCRIBE_FIELDS = {
    "type": "object",
    "required": ["email", "consent"],
    "properties": {
        "email": {"type": "string", "maxLength": 254},
        "name": {"type": "string", "maxLength": 200},
        "phone": {"type": "string", "maxLength": 32,
                  "description": "Finnish numbers may omit +358"},
        "language": {"type": "string", "enum": ["fi", "sv", "en"]},
        "channels": {"type": "array", "items": {"type": "string", "enum": ["email", "sms"]},
                     "description": "default: email"},
        "consent": {"description": "true, or on for a checkbox", "oneOf": [
            {"type": "boolean"}, {"type": "string", "enum": ["true", "on"]}]},
        "notice": {"type": "integer", "description": "notice version shown; current if absent"},
        "page_url": {"type": "string", "maxLength": 2000},
        "next": {"type": "string", "description": "redirect target on an allowed origin"},
    },
}

PATHS: dict[str, Any] = {
    "/api/v1/subscribe": {
        "post": {
            "summary": "Opt in to the newsletter",
            "description": "The answer is the same whether or not the address was known.",
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": SUBSCRIBE_FIELDS},
                "application/x-www-form-urlencoded": {"schema": SUBSCRIBE_FIELDS},
            }},
            "responses": {
                "202": {"description": "accepted", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {
                        "status": {"type": "string", "enum": ["pending", "subscribed"]}}}}}},
                "303": {"description": "form post with a trusted next: redirect"},
                "400": {"description": "unreadable body",
                        "content": {"application/json": {"schema": ERROR}}},
                "413": {"description": "body too large",
                        "content": {"application/json": {"schema": ERROR}}},
                "415": {"description": "unsupported content type",
                        "content": {"application/json": {"schema": ERROR}}},
                "422": {"description": "invalid fields",
                        "content": {"application/json": {"schema": ERROR}}},
                "429": {"description": "too many opt-ins from this address",
                        "headers": RETRY_AFTER,
                        "content": {"application/json": {"schema": ERROR}}},
            },
        }
    },
}


# The register API and the withdrawal API (Authorization: Bearer <api key>).
_KEY_ERRORS = {
    "401": {"description": "no key, or a key nobody issued (WWW-Authenticate: Bearer)",
            "content": {"application/json": {"schema": ERROR}}},
    "403": {"description": "the key is revoked (error key_revoked) or its role is too low "
                           "(error insufficient_role)",
            "content": {"application/json": {"schema": ERROR}}},
    "422": {"description": "invalid parameters or fields",
            "content": {"application/json": {"schema": ERROR}}},
    "429": {"description": "too many refused calls (401, 403) from this address lately",
            "headers": RETRY_AFTER, "content": {"application/json": {"schema": ERROR}}},
}
# What any operation with a request body may answer before it reads a field.
_BODY_ERRORS = {
    "400": {"description": "unreadable body (not JSON, not an object, nested too deep)",
            "content": {"application/json": {"schema": ERROR}}},
    "413": {"description": "body too large", "content": {"application/json": {"schema": ERROR}}},
    "415": {"description": "unsupported content type",
            "content": {"application/json": {"schema": ERROR}}},
}
_RECIPIENT = {
    "type": "object",
    "required": ["contact_id", "language", "consented_at", "unsubscribe_url"],
    "properties": {
        "contact_id": {"type": "string", "format": "uuid"},
        "name": {"type": ["string", "null"]},
        "email": {"type": "string", "description": "channel email only"},
        "phone": {"type": "string", "description": "E.164; channel sms only"},
        "language": {"type": "string", "enum": ["fi", "sv", "en"]},
        "consented_at": {"type": "string", "format": "date-time"},
        "unsubscribe_url": {"type": "string", "format": "uri",
                            "description": "never expires; put it in the message body"},
        "list_unsubscribe": {"type": ["string", "null"],
                             "description": "value of the List-Unsubscribe header (email)"},
        "list_unsubscribe_post": {"type": ["string", "null"],
                                  "description": "value of List-Unsubscribe-Post (email, when "
                                                 "the public URL is https), else null"},
    },
}
PATHS["/api/v1/register"] = {
    "get": {
        "summary": "Who may be contacted now on a channel",
        "description": (
            "Role reader or staff. JSON pages in contact order; pass next_cursor back as "
            "cursor for the next page (pages stay stable while new opt-ins arrive). "
            "format=csv (or Accept: text/csv) streams the whole register after the cursor as "
            "UTF-8 CSV; cells that start with = + - @ tab or CR are prefixed with an "
            "apostrophe so spreadsheets show them as text. Every call is audited."
        ),
        "security": [{"apiKey": []}],
        "parameters": [
            {"name": "channel", "in": "query",
             "schema": {"type": "string", "enum": ["email", "sms"], "default": "email"}},
            {"name": "cursor", "in": "query", "schema": {"type": "string"}},
            {"name": "limit", "in": "query",
             "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
            {"name": "format", "in": "query",
             "schema": {"type": "string", "enum": ["json", "csv"]}},
        ],
        "responses": {
            "200": {"description": "a page, or the CSV", "content": {
                "application/json": {"schema": {"type": "object", "properties": {
                    "channel": {"type": "string"},
                    "items": {"type": "array", "items": _RECIPIENT},
                    "next_cursor": {"type": ["string", "null"]}}}},
                "text/csv": {"schema": {"type": "string"}},
            }},
            **_KEY_ERRORS,
        },
    }
}
PATHS["/api/v1/withdrawals"] = {
    "post": {
        "summary": "Withdraw consent on a person's request",
        "description": (
            "Role staff; the key is recorded as the actor. The answer is the same whether or "
            "not the address or id is known, so it tells nobody who is on the register."
        ),
        "security": [{"apiKey": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {
                "email": {"type": "string"},
                "contact_id": {"type": "string", "format": "uuid"},
                "channels": {"type": "array", "items": {"type": "string",
                                                        "enum": ["email", "sms"]},
                             "description": "default: both"},
                "reason": {"type": "string", "maxLength": 1000},
            },
            "description": "exactly one of email and contact_id",
        }}}},
        "responses": {
            "200": {"description": "the channels are withdrawn (or were never given)",
                    "content": {"application/json": {"schema": {"type": "object", "properties": {
                        "status": {"type": "string", "enum": ["withdrawn"]},
                        "channels": {"type": "array", "items": {"type": "string"}}}}}}},
            **_KEY_ERRORS,
            **_BODY_ERRORS,
        },
    }
}
PATHS["/unsubscribe/{token}"] = {
    "post": {
        "summary": "Withdraw through a signed link (the page's button or RFC 8058 one-click)",
        "description": (
            "Body List-Unsubscribe=One-Click (urlencoded or multipart) or the page's button. "
            "No cookies or authorization: the signed token is the credential. Answers 200 "
            "with no redirect; a repeat is harmless. Rate limited per token; a token that is "
            "not genuine is limited per caller address instead."
        ),
        "parameters": [{"name": "token", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "withdrawn"},
            "404": {"description": "invalid link; nothing changed"},
            "429": {"description": "too many POSTs for this link", "headers": RETRY_AFTER},
        },
    }
}


_CONTACT_ID = [{"name": "id", "in": "path", "required": True,
                "schema": {"type": "string", "format": "uuid"}}]
PATHS["/api/v1/consents"] = {
    "post": {
        "summary": "Record a consent given out loud (at the desk or on the phone)",
        "description": (
            "Role staff; the key is recorded as the actor and witness. The consent is granted "
            "at once and the person is emailed a receipt with an \"I never agreed to this\" "
            "link that withdraws and flags the record for staff."
        ),
        "security": [{"apiKey": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["channels", "method"],
            "properties": {
                "email": {"type": "string"},
                "phone": {"type": "string", "description": "Finnish or +country format"},
                "name": {"type": "string"},
                "language": {"type": "string", "enum": ["fi", "sv", "en"]},
                "channels": {"type": "array", "items": {"type": "string",
                                                        "enum": ["email", "sms"]}},
                "method": {"type": "string", "enum": ["in_person", "phone"]},
                "notice": {"type": "integer", "description": "the version read out; "
                                                             "default: the current one"},
                "note": {"type": "string", "maxLength": 2000},
            },
            "description": "email and/or phone; email for the email channel, phone for sms",
        }}}},
        "responses": {
            "201": {"description": "recorded", "content": {"application/json": {"schema": {
                "type": "object", "properties": {
                    "status": {"type": "string", "enum": ["subscribed"]},
                    "contact_id": {"type": "string", "format": "uuid"},
                    "channels": {"type": "array", "items": {"type": "string"}},
                    "notice": {"type": "integer"},
                    "receipt_sent": {"type": "boolean"}}}}}},
            "422": {"description": "fields at fault", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            **_KEY_ERRORS,
            **_BODY_ERRORS,
        },
    }
}
_LOOKUP_ANSWERS = {
    "200": {"description": "the contact: id, email, name, phone, flagged_reason, "
                           "subscriptions (channel: state)"},
    "404": {"description": "no live contact has this address"},
    **_KEY_ERRORS,
}
PATHS["/api/v1/contacts/lookup"] = {
    "post": {
        "summary": "Find a contact by exact email address (logged)",
        "description": "The address travels in the body, so it stays out of URLs and thus out "
                       "of access logs, proxies' logs included.",
        "security": [{"apiKey": []}],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"type": "object", "required": ["email"],
                                            "properties": {"email": {"type": "string"}}}},
            "application/x-www-form-urlencoded": {"schema": {
                "type": "object", "required": ["email"],
                "properties": {"email": {"type": "string"}}}}}},
        "responses": {**_LOOKUP_ANSWERS, **_BODY_ERRORS},
    }
}
PATHS["/api/v1/contacts"] = {
    "get": {
        "summary": "Find a contact by exact email address in the URL (logged; deprecated)",
        "description": "Kept for existing callers. The address is part of the URL, which "
                       "reverse proxies log: use POST /api/v1/contacts/lookup instead.",
        "deprecated": True,
        "security": [{"apiKey": []}],
        "parameters": [{"name": "email", "in": "query", "required": True,
                        "schema": {"type": "string"}}],
        "responses": _LOOKUP_ANSWERS,
    }
}
PATHS["/api/v1/contacts/{id}"] = {
    "get": {
        "summary": "Everything held on a contact (logged as a view)",
        "security": [{"apiKey": []}],
        "parameters": _CONTACT_ID,
        "responses": {
            "200": {"description": "contact, subscriptions, consent_events (with evidence and "
                                   "notice texts), corrections, audit_entries"},
            "404": {"description": "no such contact, or it was erased"},
            **_KEY_ERRORS,
        },
    }
}
PATHS["/api/v1/contacts/{id}/export"] = {
    "get": {
        "summary": "Export everything held on a contact as JSON, CSV or JSON-LD (logged)",
        "description": (
            "jsonld: the person's consent records, one per channel, as ISO/IEC TS 27560 "
            "consent records in JSON-LD with the W3C Data Privacy Vocabulary (profile "
            "https://w3id.org/dpv/schema/iso-27560#record); the context is embedded."
        ),
        "security": [{"apiKey": []}],
        "parameters": [*_CONTACT_ID, {"name": "format", "in": "query",
                                      "schema": {"type": "string",
                                                 "enum": ["json", "csv", "jsonld"]}}],
        "responses": {
            "200": {"description": "the export as a download", "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
                "application/ld+json": {"schema": {"type": "object"}}}},
            "404": {"description": "no such contact, or it was erased"},
            **_KEY_ERRORS,
        },
    }
}


# Inbound webhooks: authenticated by a per-source secret or the sender's own signature.
_WEBHOOK_401 = {"description": "wrong or missing secret or signature; nothing recorded",
                "content": {"application/json": {"schema": ERROR}}}
_WEBHOOK_429 = {"description": "more than 300 deliveries a minute for this source",
                "headers": RETRY_AFTER}
PATHS["/webhooks/forms/{source}"] = {
    "post": {
        "summary": "A WordPress form plugin's delivery (Contact Form 7, WPForms, Gravity Forms, "
                   "Elementor, Fluent Forms, or the generic shape)",
        "description": (
            "The source is added by an admin (admin page or `consent source add`). The secret "
            "goes in the X-Consent-Secret header, as Authorization: Bearer, or as ?secret= for "
            "plugins that cannot set headers (kept out of every log); a WPForms source with a "
            "signing secret needs WPForms' signature instead. Flat JSON, form-encoded bodies "
            "with PHP bracket keys, ||-joined values, Gravity Forms field ids and Elementor's "
            "labels or advanced data are read through the source's field mapping. With the "
            "right secret the answer is always exactly 200 (what every plugin counts as "
            "success); the body says what was done."
        ),
        "parameters": [{"name": "source", "in": "path", "required": True,
                        "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}},
                       {"name": "secret", "in": "query", "required": False,
                        "schema": {"type": "string"},
                        "description": "the source secret, for plugins that cannot set headers"}],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
            "multipart/form-data": {"schema": {"type": "object"}},
        }},
        "responses": {
            "200": {"description": "received", "content": {"application/json": {"schema": {
                "type": "object", "required": ["status"], "properties": {
                    "status": {"type": "string",
                               "enum": ["pending", "subscribed", "ignored", "duplicate"]},
                    "reason": {"type": "string",
                               "enum": ["consent_not_given", "invalid_fields",
                                        "unreadable_body", "empty_body"]},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                }}}}},
            "401": _WEBHOOK_401,
            "429": _WEBHOOK_429,
        },
    }
}
PATHS["/webhooks/email/{provider}"] = {
    "post": {
        "summary": "Bounce and spam-complaint events from the mail provider",
        "description": (
            "Postmark and Brevo: the source secret (header, Bearer or Basic auth). Mailgun: "
            "its HMAC signature. SendGrid: its signed event webhook (ECDSA). Amazon SES: SNS "
            "messages with their RSA signature checked; a SubscriptionConfirmation is "
            "confirmed. A complaint withdraws email consent; a hard bounce marks the address "
            "undeliverable; soft bounces are counted. Each event counts once, by the "
            "provider's id."
        ),
        "parameters": [{"name": "provider", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": ["postmark", "mailgun", "ses",
                                                              "sendgrid", "brevo"]}}],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"type": ["object", "array"]}},
            "text/plain": {"schema": {"type": "string"},
                           "description": "SNS posts JSON as text/plain"},
        }},
        "responses": {
            "200": {"description": "received", "content": {"application/json": {"schema": {
                "type": "object", "properties": {
                    "status": {"type": "string", "enum": ["ok"]},
                    "applied": {"type": "integer"}, "duplicates": {"type": "integer"},
                    "unknown": {"type": "integer",
                                "description": "events about addresses the service does not "
                                               "know"},
                    "ignored": {"type": "integer"}}}}}},
            "401": _WEBHOOK_401,
            "404": {"description": "no such provider, or it has not been added",
                    "content": {"application/json": {"schema": ERROR}}},
            "429": _WEBHOOK_429,
        },
    }
}


def document(public_url: str) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "consent-register", "version": "1"},
        "servers": [{"url": public_url}],
        "components": {
            "schemas": {"Error": ERROR},
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "paths": PATHS,
    }


@bp.get("/api/v1/openapi.json")
def openapi_json() -> Any:
    """Serve the OpenAPI document."""
    return jsonify(document(settings().public_url))

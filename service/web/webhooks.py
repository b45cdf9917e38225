"""Inbound webhooks: form plugins at /webhooks/forms/<source>, providers at /webhooks/email/<p>.

Handlers authenticate, parse and answer; the rules live in service.domain.sources and
service.domain.deliverability, the plugin and provider shapes in webhooks/.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.sansio.blueprints import BlueprintSetupState

from service.domain import deliverability, sources
from service.domain.sources import PROVIDER_KINDS, SourceConfig, SourceKind
from service.web import inputs
from service.web.access_log import SECRET_PARAM
from service.web.current import container
from service.web.extensions import limiter
from webhooks import forms, providers, sns

log = logging.getLogger("consent.webhooks")

EXTENSION = "consent.webhooks"
SECRET_HEADER = "X-Consent-Secret"  # noqa: S105 - a header name, not a secret
# Deliveries per minute per source or provider: WordPress servers and mail providers post from
# few IPs, so a per-IP limit would throttle every visitor of a site at once.
SOURCE_RATE_LIMIT = "300/minute"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass
class InboundAdapters:
    """What the provider handlers reach outside with; tests replace these on the app."""

    sns_cert_fetcher: sns.CertFetcher
    sns_confirm: Callable[[str], None]
    # The roots an SNS signing certificate must chain to; None: the certifi bundle.
    sns_trust_roots: sns.TrustRoots | None = None


def presented_tokens() -> list[str | None]:
    """Return every place a sender may have put the source secret."""
    found: list[str | None] = [request.headers.get(SECRET_HEADER), request.args.get(SECRET_PARAM)]
    authorization = request.headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        found.append(value.strip())
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        found.append(decoded.partition(":")[2])
    return found


def _unauthorized() -> Any:
    return jsonify({"error": "unauthorized",
                    "message": "wrong or missing secret or signature"}), 401


def _json_body(raw: bytes) -> Any:
    try:
        return inputs.loads(raw)
    except ValueError:  # not UTF-8, not JSON, or nested too deep
        return None


def _install_adapters(state: BlueprintSetupState) -> None:
    """Give the app its own provider adapters (its own certificate cache)."""
    state.app.extensions.setdefault(EXTENSION, InboundAdapters(
        sns.CachedCertFetcher(), sns.confirm_subscription_with_requests))


bp = Blueprint("webhooks", __name__)
bp.record_once(_install_adapters)


def per_source() -> str:
    """Return the rate-limit key of the source or provider in the path."""
    args = request.view_args or {}
    return f"webhook:{args.get('source') or args.get('provider')}"


@bp.post("/webhooks/forms/<source>")
@limiter.limit(SOURCE_RATE_LIMIT, key_func=per_source)
def form_delivery(source: str) -> Any:
    """Take a form plugin's delivery; with the right secret the answer is always 200."""
    config = sources.find_source(container().uow(), source)
    if config is None or not config.is_form:
        return _unauthorized()
    raw = request.get_data(cache=True)
    is_form = request.mimetype in FORM_TYPES
    pairs = list(request.form.items(multi=True)) if is_form else None
    if not _form_source_authentic(config, raw, pairs):
        log.warning("form source %s: wrong or missing secret; nothing recorded", source)
        return _unauthorized()
    if not raw.strip():
        log.warning("form source %s: empty delivery; nothing recorded", source)
        return jsonify({"status": "ignored", "reason": "empty_body"}), 200
    body = None if is_form else _json_body(raw)
    if not is_form and not isinstance(body, dict):
        log.warning("form source %s: body is neither a form nor a JSON object", source)
        return jsonify({"status": "ignored", "reason": "unreadable_body"}), 200
    submission = forms.parse_delivery(config.kind, raw=raw, json_body=body, form_pairs=pairs)
    outcome = sources.record_form_submission(
        container().uow(), container().deps, config, submission, request.remote_addr
    )
    answer: dict[str, Any] = {"status": outcome.status}
    if outcome.reason:
        answer["reason"] = outcome.reason
    if outcome.problems:
        answer["fields"] = {p.field: p.problem for p in outcome.problems}
    # Elementor shows the visitor an error on anything but exactly 200.
    return jsonify(answer), 200


def _form_source_authentic(
    config: SourceConfig, raw: bytes, pairs: list[tuple[str, str]] | None
) -> bool:
    """Tell whether a form delivery carries its source's signature or secret."""
    if config.kind == SourceKind.WPFORMS and config.signing_secret:
        form = dict(pairs) if pairs is not None else None
        return forms.wpforms_signature_valid(
            config.signing_secret, request.headers.get(forms.WPFORMS_SIGNATURE_HEADER),
            raw=raw, form=form, now=int(container().clock.now().timestamp()),
        )
    return sources.token_matches(config, presented_tokens())


@bp.post("/webhooks/email/<provider>")
@limiter.limit(SOURCE_RATE_LIMIT, key_func=per_source)
def provider_delivery(provider: str) -> Any:
    """Take an email provider's bounce and complaint events."""
    if provider not in {k.value for k in PROVIDER_KINDS}:
        return jsonify({"error": "not_found", "message": "no such provider"}), 404
    config = sources.find_source(container().uow(), provider)
    if config is None:
        return jsonify({"error": "not_configured",
                        "message": f"add it first: consent source add {provider} "
                                   f"--kind {provider}"}), 404
    raw = request.get_data(cache=True)
    body = _json_body(raw)
    now = int(container().clock.now().timestamp())
    try:
        events = _provider_events(config, body, raw, now)
    except providers.NotAuthentic as exc:
        log.warning("%s delivery refused: %s; nothing changed", provider, exc)
        return _unauthorized()
    except providers.ProviderUnavailable as exc:
        # Neither genuine nor forged yet: a 5xx makes the provider deliver it again.
        log.warning("%s delivery not handled: %s", provider, exc)
        return jsonify({"error": "unavailable",
                        "message": "cannot check this delivery now; send it again"}), 503
    if events is None:
        return jsonify({"status": "ok"}), 200
    # Mailgun's signature covers its one-time token, not the event: a token is used once.
    replay_key = providers.mailgun_replay_key(body) \
        if config.kind == SourceKind.MAILGUN else None
    result = deliverability.apply_provider_events(
        container().uow(), container().deps, provider, events, sending_ip=request.remote_addr,
        delivery_key=replay_key,
    )
    return jsonify({"status": "ok", "applied": result.applied,
                    "duplicates": result.duplicates, "unknown": result.unknown,
                    "ignored": result.ignored}), 200


def _provider_events(
    config: SourceConfig, body: Any, raw: bytes, now: int
) -> list[deliverability.ProviderEvent] | None:
    """Return a genuine provider delivery's events (None: nothing to apply)."""
    kind = config.kind
    if kind == SourceKind.SES:
        adapters_now: InboundAdapters = current_app.extensions[EXTENSION]
        outcome = providers.handle_sns(
            body, topic_arns=config.topic_arns, fetch_cert=adapters_now.sns_cert_fetcher,
            confirm=adapters_now.sns_confirm, now=container().clock.now(),
            trust_roots=adapters_now.sns_trust_roots,
        )
        return outcome.events if outcome.kind == "notification" else None
    if kind == SourceKind.MAILGUN:
        providers.mailgun_verify(config.signing_secret or "", body, now=now)
        return providers.mailgun_events(body)
    if kind == SourceKind.SENDGRID:
        providers.sendgrid_verify(config.signing_secret or "", dict(request.headers), raw)
        return providers.sendgrid_events(body)
    if not sources.token_matches(config, presented_tokens()):
        raise providers.NotAuthentic("wrong or missing secret")
    if kind == SourceKind.POSTMARK:
        return providers.postmark_events(body)
    return providers.brevo_events(body)


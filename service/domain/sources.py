"""Inbound sources: WordPress form plugins and email providers that post to us.

A form source has a kind (which plugin), a secret, a mapping from the plugin's field names
(or labels, or Gravity Forms ids) to ours, the notice version its form shows and whether double
opt-in applies. An email-provider source is named after its provider and holds what that
provider's authentication needs.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain import audit, inbound
from service.domain.channels import Channel, read_channels
from service.domain.dependencies import Deps
from service.domain.languages import LANGUAGES
from service.domain.ledger import Actor
from service.domain.models import ActorType, InboundSource, Method
from service.domain.normalize import FieldProblem, InvalidInput
from service.domain.optin import RequestContext, parse_opt_in, request_opt_in
from service.domain.uow import UnitOfWork

log = logging.getLogger("consent.webhooks")


class SourceKind(enum.StrEnum):
    """Who posts to an inbound webhook."""

    CF7 = "cf7"
    WPFORMS = "wpforms"
    GRAVITYFORMS = "gravityforms"
    ELEMENTOR = "elementor"
    FLUENTFORMS = "fluentforms"
    GENERIC = "generic"
    POSTMARK = "postmark"
    MAILGUN = "mailgun"
    SES = "ses"
    SENDGRID = "sendgrid"
    BREVO = "brevo"


FORM_KINDS = (
    SourceKind.CF7, SourceKind.WPFORMS, SourceKind.GRAVITYFORMS, SourceKind.ELEMENTOR,
    SourceKind.FLUENTFORMS, SourceKind.GENERIC,
)
PROVIDER_KINDS = (
    SourceKind.POSTMARK, SourceKind.MAILGUN, SourceKind.SES, SourceKind.SENDGRID,
    SourceKind.BREVO,
)
# Senders that sign their requests; with the signing key configured the signature is required.
SIGNING_KINDS = (SourceKind.WPFORMS, SourceKind.MAILGUN, SourceKind.SENDGRID)
OUR_FIELDS = ("email", "name", "phone", "language", "consent", "channels", "notice")

# Where each plugin puts our fields by default; a source's own mapping replaces an entry.
# "a+b" joins two of the plugin's fields with a space (first and last name).
DEFAULT_MAPPINGS: dict[SourceKind, dict[str, list[str]]] = {
    SourceKind.CF7: {
        "email": ["your-email"], "name": ["your-name"], "phone": ["your-phone", "tel"],
        "consent": ["consent", "acceptance"], "language": ["language"], "channels": ["channels"],
    },
    SourceKind.WPFORMS: {f: [f] for f in OUR_FIELDS if f != "notice"},
    SourceKind.GRAVITYFORMS: {"consent": ["consent"], "email": ["email"]},
    SourceKind.ELEMENTOR: {
        "email": ["email", "Sähköposti", "E-post", "Email"],
        "name": ["name", "Nimi", "Namn", "Name"],
        "phone": ["phone", "Puhelin", "Telefon", "Phone"],
        "consent": ["consent", "acceptance", "Suostumus", "Samtycke", "Consent"],
    },
    SourceKind.FLUENTFORMS: {
        "email": ["email"],
        "name": ["names[first_name]+names[last_name]", "names"],
        "phone": ["phone"],
        "consent": ["gdpr-agreement", "terms-n-condition", "consent"],
    },
    SourceKind.GENERIC: {f: [f] for f in OUR_FIELDS},
}
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# Who changes sources when no staff account does (the `consent source` command).
CLI_ACTOR = Actor(ActorType.SYSTEM, "cli")
# Kinds that authenticate by their own signature and so are given no token.
SIGNATURE_ONLY = (SourceKind.SES, SourceKind.MAILGUN, SourceKind.SENDGRID)
UNTICKED = ("", "0", "false", "no", "off", "n")


class SourceProblem(Exception):
    """A source cannot be added or changed as asked; the message says why."""


@dataclass(frozen=True)
class SourceConfig:
    """One inbound source as the webhook handlers need it (secrets as stored)."""

    id: int
    name: str
    kind: SourceKind
    token_hash: str | None
    signing_secret: str | None
    mapping: Mapping[str, Sequence[str]]
    notice: int | None = None
    double_opt_in: bool | None = None
    channels: tuple[str, ...] = ("email",)
    topic_arns: tuple[str, ...] = ()
    created_at: datetime | None = None

    @property
    def is_form(self) -> bool:
        """Tell whether this is a form plugin (rather than an email provider)."""
        return self.kind in FORM_KINDS

    @property
    def path(self) -> str:
        """Return the path the plugin or provider posts to."""
        folder = "forms" if self.is_form else "email"
        return f"/webhooks/{folder}/{self.name}"

    @property
    def signs(self) -> bool:
        """Tell whether deliveries must carry the sender's own signature."""
        return self.kind == SourceKind.SES or (
            self.kind in SIGNING_KINDS and bool(self.signing_secret)
        )

    def describe(self) -> dict[str, Any]:
        """Return what an admin may see: everything but the secrets."""
        return {
            "name": self.name, "kind": self.kind.value, "mapping": dict(self.mapping),
            "notice": self.notice, "double_opt_in": self.double_opt_in,
            "channels": list(self.channels), "topic_arns": list(self.topic_arns),
            "has_token": self.token_hash is not None,
            "has_signing_secret": self.signing_secret is not None,
        }


@dataclass(frozen=True)
class IssuedSource:
    """A source just added, with its secret token shown this once."""

    source: SourceConfig
    token: str | None


def hash_token(token: str) -> str:
    """Return the SHA-256 of a source token (random and long, so a fast hash suffices)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(source: SourceConfig, presented: Iterable[str | None]) -> bool:
    """Tell whether any presented value is the source's token, in constant time per value."""
    if source.token_hash is None:
        return False
    found = False
    for value in presented:
        if value and hmac.compare_digest(hash_token(value), source.token_hash):
            found = True
    return found


def _config(row: InboundSource) -> SourceConfig:
    raw = json.loads(row.config_json)
    kind = SourceKind(row.kind)
    mapping = {**DEFAULT_MAPPINGS.get(kind, {}), **raw.get("mapping", {})}
    return SourceConfig(
        id=row.id, name=row.name, kind=kind, token_hash=row.token_hash,
        signing_secret=row.signing_secret, mapping=mapping, notice=raw.get("notice"),
        double_opt_in=raw.get("double_opt_in"), channels=tuple(raw.get("channels", ["email"])),
        topic_arns=tuple(raw.get("topic_arns", [])), created_at=row.created_at,
    )


def parse_mapping(pairs: Iterable[str]) -> dict[str, list[str]]:
    """Read OURS=THEIRS pairs (repeatable; "a+b" joins two fields) into a mapping."""
    mapping: dict[str, list[str]] = {}
    for pair in pairs:
        ours, sep, theirs = pair.partition("=")
        ours = ours.strip().lower()
        if not sep or ours not in OUR_FIELDS or not theirs.strip():
            raise SourceProblem(
                f"--map {pair!r}: write OURS=THEIRS, OURS one of {', '.join(OUR_FIELDS)}"
            )
        mapping.setdefault(ours, []).append(theirs.strip())
    return mapping


def add_source(
    uow: UnitOfWork,
    name: str,
    kind: str,
    *,
    now: datetime,
    mapping: Mapping[str, Sequence[str]] | None = None,
    notice: int | None = None,
    double_opt_in: bool | None = None,
    channels: Sequence[str] = ("email",),
    signing_secret: str | None = None,
    topic_arns: Sequence[str] = (),
    actor: Actor | None = None,
    ip: str | None = None,
) -> IssuedSource:
    """Register a source and return its secret token (shown once; only its hash is kept)."""
    try:
        chosen = SourceKind(kind)
    except ValueError:
        raise SourceProblem(
            f"unknown kind {kind!r}; one of {', '.join(k.value for k in SourceKind)}"
        ) from None
    clean = name.strip().lower()
    if chosen in PROVIDER_KINDS and clean != chosen.value:
        raise SourceProblem(
            f"an email provider source is named after its provider: {chosen.value}"
        )
    if not NAME_PATTERN.match(clean):
        raise SourceProblem("a source name is 1-64 lower-case letters, digits, - or _")
    if chosen == SourceKind.GRAVITYFORMS and not (mapping and "email" in mapping):
        raise SourceProblem("Gravity Forms sends field ids: map them, e.g. --map email=2 "
                            "--map consent=3.1 --map name=1.3+1.6")
    if chosen == SourceKind.SES and not topic_arns:
        raise SourceProblem("Amazon SES via SNS needs --topic-arn (only that topic is accepted)")
    if chosen in (SourceKind.MAILGUN, SourceKind.SENDGRID) and not signing_secret:
        raise SourceProblem(f"{chosen.value} signs its events: give --signing-secret "
                            "(Mailgun: the HTTP webhook signing key; SendGrid: the public key)")
    if read_channels(list(channels)).problem is not None:
        raise SourceProblem("channels are email and/or sms")
    # Senders that sign do not need a token; the others authenticate with one.
    token = None if chosen in SIGNATURE_ONLY else secrets.token_urlsafe(32)
    config: dict[str, Any] = {
        "mapping": {k: list(v) for k, v in (mapping or {}).items()},
        "notice": notice, "double_opt_in": double_opt_in, "channels": list(channels),
        "topic_arns": list(topic_arns),
    }
    with uow:
        session = uow.session
        if session.scalar(select(InboundSource.id).where(InboundSource.name == clean)):
            raise SourceProblem(f"a source named {clean!r} exists already; remove it first")
        row = InboundSource(
            name=clean, kind=chosen.value, token_hash=hash_token(token) if token else None,
            signing_secret=signing_secret, config_json=json.dumps(config, sort_keys=True),
            created_at=now,
        )
        session.add(row)
        session.flush()
        source = _config(row)
        audit.append(session, actor or CLI_ACTOR, "source.add", ip=ip,
                     detail={"source": clean, "kind": chosen.value}, now=now)
        uow.commit()
    return IssuedSource(source, token)


def list_sources(uow: UnitOfWork) -> list[SourceConfig]:
    """Return every source, by name."""
    with uow:
        rows = uow.session.scalars(select(InboundSource).order_by(InboundSource.name))
        return [_config(r) for r in rows]


def _row(session: Session, name: str, *, lock: bool = False) -> InboundSource | None:
    query = select(InboundSource).where(InboundSource.name == name.strip().lower())
    return session.scalars(query.with_for_update() if lock else query).first()


def remove_source(uow: UnitOfWork, name: str, *, now: datetime, actor: Actor | None = None,
                  ip: str | None = None) -> bool:
    """Remove a source; its URL stops working at once. Tell whether it existed."""
    with uow:
        row = _row(uow.session, name, lock=True)
        if row is None:
            return False
        audit.append(uow.session, actor or CLI_ACTOR, "source.remove", ip=ip,
                     detail={"source": row.name, "kind": row.kind}, now=now)
        uow.session.delete(row)
        uow.commit()
    return True


def rotate_token(uow: UnitOfWork, name: str, *, now: datetime, actor: Actor | None = None,
                 ip: str | None = None) -> IssuedSource:
    """Give a source a new secret token at once (the old one stops working); return it."""
    token = secrets.token_urlsafe(32)
    with uow:
        row = _row(uow.session, name, lock=True)
        if row is None:
            raise SourceProblem(f"no source named {name!r}")
        if SourceKind(row.kind) in SIGNATURE_ONLY:
            raise SourceProblem(f"{row.kind} authenticates by its own signature, not a secret; "
                                "change its signing key by adding the source again")
        row.token_hash = hash_token(token)
        source = _config(row)
        audit.append(uow.session, actor or CLI_ACTOR, "source.rotate", ip=ip,
                     detail={"source": row.name}, now=now)
        uow.commit()
    return IssuedSource(source, token)


def load_source(session: Session, name: str) -> SourceConfig | None:
    """Return the source of this name, if any."""
    row = session.scalars(select(InboundSource).where(InboundSource.name == name)).first()
    return _config(row) if row else None


def find_source(uow: UnitOfWork, name: str) -> SourceConfig | None:
    """Return the source of this name in a short read-only transaction."""
    with uow:
        return load_source(uow.session, name.strip().lower())


# --- form submissions -------------------------------------------------------------------


@dataclass(frozen=True)
class FormSubmission:
    """A form plugin's delivery, flattened: the plugin's field names with their values."""

    fields: Mapping[str, str | list[str]]
    delivery_key: str
    visitor_ip: str | None = None
    user_agent: str | None = None
    page_url: str | None = None


@dataclass(frozen=True)
class FormOutcome:
    """What a form delivery did: pending, subscribed, ignored (and why) or duplicate."""

    status: str
    reason: str | None = None
    problems: tuple[FieldProblem, ...] = field(default_factory=tuple)


def _lookup(fields: Mapping[str, str | list[str]], key: str) -> str | list[str] | None:
    if key in fields:
        return fields[key]
    folded = key.casefold()
    for name, value in fields.items():
        if name.casefold() == folded:
            return value
    return None


def mapped_value(
    fields: Mapping[str, str | list[str]], alternatives: Sequence[str]
) -> str | list[str] | None:
    """Return the first alternative present; "a+b" joins the parts present with a space."""
    for alternative in alternatives:
        parts = alternative.split("+") if "+" in alternative else [alternative]
        values = [_lookup(fields, p.strip()) for p in parts]
        present = [v for v in values if v is not None]
        if not present:
            continue
        if len(parts) == 1:
            return present[0]
        texts = [" ".join(v) if isinstance(v, list) else v for v in present]
        return " ".join(t.strip() for t in texts if t.strip())
    return None


def is_ticked(value: str | list[str] | bool | None) -> bool:
    """Tell whether a consent box was ticked: "1", "on", a label text, a non-empty list."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, list):
        return any(is_ticked(v) for v in value)
    return value.strip().lower() not in UNTICKED


def _channels_in_words(value: str | list[str] | None, default: Sequence[str]) -> list[str]:
    """Return the channels a form's own answer names in words ("Sähköposti", "Text (SMS)")."""
    items = value if isinstance(value, list) else ([value] if value else [])
    chosen: list[str] = []
    for item in items:
        for word in re.split(r"[,\s|]+", item.lower()):
            if "sms" in word or "teksti" in word:
                chosen.append(Channel.SMS.value)
            elif "mail" in word or "posti" in word or word == "post":
                chosen.append(Channel.EMAIL.value)
    return list(dict.fromkeys(chosen)) or list(default)


def to_opt_in_fields(source: SourceConfig, submission: FormSubmission) -> dict[str, Any]:
    """Translate a delivery into our opt-in fields through the source's mapping."""
    ours: dict[str, Any] = {}
    for name in ("email", "name", "phone", "language", "notice"):
        value = mapped_value(submission.fields, source.mapping.get(name, ()))
        if isinstance(value, list):
            value = " ".join(value)
        if value is not None and value.strip():
            ours[name] = value.strip()
    ours["channels"] = _channels_in_words(
        mapped_value(submission.fields, source.mapping.get("channels", ())), source.channels
    )
    if source.notice is not None:
        ours["notice"] = source.notice
    if submission.page_url and submission.page_url.startswith(("http://", "https://")):
        ours["page_url"] = submission.page_url[:2000]
    if "language" in ours and ours["language"][:2].lower() in LANGUAGES:
        ours["language"] = ours["language"][:2].lower()
    elif "language" in ours:
        del ours["language"]
    return ours


class _SharedUnitOfWork(UnitOfWork):
    """The caller's open transaction handed to a use case: its commit only flushes."""

    def __init__(self, session: Session) -> None:
        """Share the caller's session."""
        self._session = session

    def __enter__(self) -> UnitOfWork:
        """Keep using the caller's session."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Leave the outcome to the caller."""

    def commit(self) -> None:
        """Flush; the caller commits."""
        self.session.flush()


def record_form_submission(
    uow: UnitOfWork,
    deps: Deps,
    source: SourceConfig,
    submission: FormSubmission,
    sending_ip: str | None,
) -> FormOutcome:
    """Record a form plugin's opt-in once per submission, as the source's settings say."""
    now = deps.clock.now()
    window = inbound.BODY_HASH_WINDOW if submission.delivery_key.startswith("sha256:") else None
    with uow:
        session = uow.session
        if not inbound.first_delivery(
            session, f"form:{source.name}", submission.delivery_key, now=now, window=window
        ):
            log.info("form source %s: repeated delivery; nothing new recorded", source.name)
            return FormOutcome("duplicate")
        consent = mapped_value(submission.fields, source.mapping.get("consent", ()))
        if not is_ticked(consent):
            log.info("form source %s: consent box missing or not ticked; nothing recorded",
                     source.name)
            uow.commit()
            return FormOutcome("ignored", "consent_not_given")
        raw = to_opt_in_fields(source, submission)
        raw["consent"] = True
        practice = deps.practice
        if source.double_opt_in is not None:
            practice = replace(practice, double_opt_in=source.double_opt_in)
        try:
            form = parse_opt_in(raw, default_language=practice.default_language)
            context = RequestContext(
                ip=submission.visitor_ip, user_agent=submission.user_agent, source_ip=sending_ip
            )
            outcome = request_opt_in(
                _SharedUnitOfWork(session), replace(deps, practice=practice), form, context,
                method=Method.FORM_WEBHOOK, source=source.name,
            )
        except InvalidInput as exc:
            # The visitor already saw the plugin's thank-you; the fields are logged by name only.
            log.warning("form source %s: submission not usable (%s); nothing recorded",
                        source.name, ", ".join(sorted({p.field for p in exc.problems})))
            session.rollback()
            inbound.first_delivery(session, f"form:{source.name}", submission.delivery_key,
                                   now=now, window=window)
            uow.commit()
            return FormOutcome("ignored", "invalid_fields", tuple(exc.problems))
        uow.commit()
    return FormOutcome(outcome.status)

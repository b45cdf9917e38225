"""Signed checkpoints of the chains' heads, kept where the database's administrator cannot
rewrite them alone: a protected tab of the practice's Google Sheet (or a file beside the local
mirror) and, when CONSENT_CHECKPOINT_MAILTO is set, a message to that address.

A checkpoint is signed with Ed25519. The key is derived from the newest of
CONSENT_SECRET_KEYS (never stored in the database), so whoever holds only the database cannot
sign a checkpoint for a rewritten history; the public key travels with every checkpoint, so a
third party who noted it once (from the first mail, or `consent checkpoint --public-key`) can
check any later one without our secret. Older keys in CONSENT_SECRET_KEYS still check the
checkpoints they signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain import chain, ledger, mail, outbox
from service.domain.chain import Checkpoint
from service.domain.dependencies import Deps
from service.domain.models import ChainCheckpoint, ServiceState
from service.domain.ports import CheckpointCopies, CheckpointLog
from service.domain.uow import UnitOfWork

PUBLISH_KIND = "checkpoint.publish"
LAST_DAY_STATE = "checkpoint_last_day"
_SIGNING_LABEL = b"consent-register ledger checkpoint signing key v1"

VALID = "valid"
INVALID = "invalid"
UNKNOWN_KEY = "unknown key"

_MAIL_TEXT = {
    "fi": ("Suostumusrekisterin tarkistuspiste {when}",
           "Tämä on suostumusrekisterin kirjanpidon ja lokin tarkistuspiste ({when}). Säilytä "
           "tämä viesti: sen liitteellä voidaan myöhemmin osoittaa, ettei kirjanpitoa ole "
           "muutettu jälkikäteen (consent verify --checkpoint TIEDOSTO)."),
    "sv": ("Kontrollpunkt för samtyckesregistret {when}",
           "Detta är en kontrollpunkt för samtyckesregistrets liggare och logg ({when}). Spara "
           "meddelandet: med bilagan kan man senare visa att liggaren inte har skrivits om i "
           "efterhand (consent verify --checkpoint FIL)."),
    "en": ("Consent register checkpoint {when}",
           "This is a checkpoint of the consent register's ledger and audit log ({when}). Keep "
           "this message: its attachment shows later that the ledger was not rewritten "
           "afterwards (consent verify --checkpoint FILE)."),
}


def _signing_key(secret: str) -> Ed25519PrivateKey:
    seed = hmac.new(secret.encode("utf-8"), _SIGNING_LABEL, hashlib.sha256).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(raw_public_key: bytes) -> str:
    """Return the short name of a public key: the start of its SHA-256."""
    return hashlib.sha256(raw_public_key).hexdigest()[:16]


class CheckpointSigner:
    """Sign checkpoints with the newest secret key's Ed25519 key; check with any of them."""

    def __init__(self, secret_keys: Sequence[str]) -> None:
        """Derive a key pair from each secret key (the last one signs)."""
        if not secret_keys:
            raise ValueError("no secret key to sign checkpoints with")
        self._signing = _signing_key(secret_keys[-1])
        self._known: dict[str, bytes] = {}
        for secret in secret_keys:
            raw = _raw(_signing_key(secret).public_key())
            self._known[key_id(raw)] = raw
        raw = _raw(self._signing.public_key())
        self.key_id = key_id(raw)
        self.public_key = base64.b64encode(raw).decode("ascii")

    def public_key_pem(self) -> str:
        """Return the signing key's public half as PEM (for openssl and third parties)."""
        return self._signing.public_key().public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")

    def sign(self, made_at: datetime, heads: Mapping[str, tuple[int, str]]) -> Checkpoint:
        """Return the signed checkpoint of these heads."""
        events, audit = heads[chain.EVENTS], heads[chain.AUDIT]
        unsigned = Checkpoint(made_at, events[0], events[1], audit[0], audit[1], self.key_id,
                              self.public_key, "")
        signature = self._signing.sign(unsigned.message())
        return Checkpoint(made_at, events[0], events[1], audit[0], audit[1], self.key_id,
                          self.public_key, base64.b64encode(signature).decode("ascii"))

    def check(self, checkpoint: Checkpoint) -> str:
        """Say whether a checkpoint's signature holds: valid, invalid or unknown key.

        "unknown key": the signature holds under the public key the checkpoint carries, but that
        key is none of ours (a key since removed from CONSENT_SECRET_KEYS, or someone else's).
        """
        try:
            carried = base64.b64decode(checkpoint.public_key, validate=True)
            signature = base64.b64decode(checkpoint.signature, validate=True)
            public = Ed25519PublicKey.from_public_bytes(carried)
        except ValueError:
            return INVALID
        ours = self._known.get(checkpoint.key_id)
        if ours is not None and ours != carried:
            return INVALID
        if key_id(carried) != checkpoint.key_id:
            return INVALID
        try:
            public.verify(signature, checkpoint.message())
        except InvalidSignature:
            return INVALID
        return VALID if ours is not None else UNKNOWN_KEY


@dataclass(frozen=True)
class MadeCheckpoint:
    """A checkpoint just made: its row and what it says."""

    id: int
    checkpoint: Checkpoint
    mailed_to: str | None


def _queue_mail(session: Session, deps: Deps, checkpoint: Checkpoint, to: str, *,
                key: str, now: datetime) -> None:
    """Queue the checkpoint as a message to the practice, the document attached."""
    practice = deps.practice
    language = practice.default_language if practice.default_language in _MAIL_TEXT else "en"
    subject, intro = _MAIL_TEXT[language]
    local = checkpoint.made_at.astimezone(ZoneInfo(practice.timezone))
    when = local.strftime("%Y-%m-%d %H:%M %Z")
    sender = mail.envelope_address(practice.mail_from)
    message_id = mail.message_id_for(f"checkpoint:{key}", sender)
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = Address(display_name=practice.organization, addr_spec=sender)
    message["To"] = mail.envelope_address(to)
    message["Subject"] = subject.format(when=when)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    document = json.dumps(checkpoint.as_json(), indent=2)
    message.set_content("\n\n".join([
        intro.format(when=when),
        f"events {checkpoint.events_position} {checkpoint.events_hash}\n"
        f"audit  {checkpoint.audit_position} {checkpoint.audit_hash}\n"
        f"key    {checkpoint.key_id}",
        document,
    ]) + "\n")
    stamp = checkpoint.made_at.strftime("%Y%m%dT%H%M%SZ")
    message.add_attachment(document.encode("utf-8"), maintype="application", subtype="json",
                           filename=f"consent-checkpoint-{stamp}.json")
    outbox.enqueue(session, mail.MAIL_KIND, f"mail:checkpoint:{key}", {
        "message_id": message_id, "sender": sender, "recipients": [to],
        "raw": message.as_bytes().decode("ascii"),
    }, now=now)


def _make(session: Session, deps: Deps, signer: CheckpointSigner, *,
          mailto: str | None) -> MadeCheckpoint:
    now = deps.clock.now()
    signed = signer.sign(now, chain.read_heads(session))
    row = ChainCheckpoint(
        made_at=now, events_position=signed.events_position, events_hash=signed.events_hash,
        audit_position=signed.audit_position, audit_hash=signed.audit_hash,
        key_id=signed.key_id, public_key=signed.public_key, signature=signed.signature)
    session.add(row)
    session.flush()
    # Ids start again after a restore; the signature keeps the queue's keys unique.
    key = f"{row.id}:{signed.signature[:16]}"
    outbox.enqueue(session, PUBLISH_KIND, f"checkpoint:{key}", {"checkpoint_id": row.id},
                   now=now)
    if mailto:
        _queue_mail(session, deps, signed, mailto, key=key, now=now)
    return MadeCheckpoint(row.id, signed, mailto)


def make_checkpoint(uow: UnitOfWork, deps: Deps, signer: CheckpointSigner, *,
                    mailto: str | None) -> MadeCheckpoint:
    """Sign the chains' heads now; queue writing them out (and the mail) in the same commit.

    Entries waiting for the sealer are chained first, so the checkpoint covers everything
    committed before it was asked for.
    """
    chain.seal(uow)
    with uow:
        made = _make(uow.session, deps, signer, mailto=mailto)
        uow.commit()
    return made


def checkpoint_daily(uow: UnitOfWork, deps: Deps, signer: CheckpointSigner, *,
                     mailto: str | None) -> MadeCheckpoint | None:
    """Make the day's checkpoint unless some worker already did today; None when done.

    As with retention, the day is marked in the transaction that makes the checkpoint, under
    the marker row's lock: several workers never make two.
    """
    now = deps.clock.now()
    today = now.astimezone(ZoneInfo(deps.practice.timezone)).date().isoformat()
    chain.seal(uow)
    with uow:
        session = uow.session
        session.execute(ledger.dialect_insert(session)(ServiceState).values(
            name=LAST_DAY_STATE, value="", updated_at=now,
        ).on_conflict_do_nothing(index_elements=["name"]))
        marker = session.get(ServiceState, LAST_DAY_STATE, with_for_update=True,
                             populate_existing=True)
        if marker is None:  # pragma: no cover - inserted just above
            raise RuntimeError("the checkpoint marker vanished")
        if marker.value == today:
            return None
        made = _make(session, deps, signer, mailto=mailto)
        marker.value, marker.updated_at = today, now
        uow.commit()
    return made


def publish(uow: UnitOfWork, deps: Deps, log: CheckpointLog, checkpoint_id: int) -> bool:
    """Write a made checkpoint to the log; False when it is no longer in the database.

    The log's errors (MirrorUnavailable, MirrorMisconfigured) reach the caller, which retries.
    """
    with uow:
        row = uow.session.get(ChainCheckpoint, checkpoint_id)
        if row is None:
            return False
        signed = Checkpoint.from_row(row)
    log.append(signed)
    with uow:
        row = uow.session.get(ChainCheckpoint, checkpoint_id)
        if row is not None:
            row.published_at = deps.clock.now()
        uow.commit()
    return True


@dataclass(frozen=True)
class StoredCheckpoint:
    """The database's own copy of a checkpoint made, and when it was written out."""

    checkpoint: Checkpoint
    published_at: datetime | None


def stored(uow: UnitOfWork) -> list[StoredCheckpoint]:
    """Return the database's copies of the checkpoints made, oldest first."""
    with uow:
        return [StoredCheckpoint(Checkpoint.from_row(row), row.published_at)
                for row in uow.session.scalars(
                    select(ChainCheckpoint).order_by(ChainCheckpoint.id))]


_JSON_OBJECT = re.compile(r"\{\s*\"format\".*?\n\}", re.DOTALL)


def _documents(text: str) -> list[object]:
    """Return the JSON values in a text: the whole of it, one per line, or embedded objects."""
    try:
        return [json.loads(text)]
    except ValueError:
        pass
    found: list[object] = []
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        found = [json.loads(line) for line in lines]
    except ValueError:
        found = []
        for match in _JSON_OBJECT.finditer(text):
            try:
                found.append(json.loads(match.group(0)))
            except ValueError:
                continue
    return found


def read_checkpoints(data: bytes) -> CheckpointCopies:
    """Read the checkpoints in a file: a JSON document, JSON lines, or a saved mail (.eml)."""
    texts: list[str] = []
    if re.match(rb"(?i)^[\w-]+:", data) and b"\n\n" in data.replace(b"\r\n", b"\n"):
        parsed = message_from_bytes(data, policy=policy.default)
        for part in parsed.walk():
            if part.get_content_maintype() == "multipart":
                continue
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes) and part.get_content_type() == "application/json":
                texts.append(payload.decode("utf-8", "replace"))
        if not texts:  # no attachment: the document in the text itself
            body = parsed.get_body(preferencelist=("plain",))
            if body is not None:
                texts.append(str(body.get_content()))
    else:
        texts.append(data.decode("utf-8", "replace"))
    found: list[Checkpoint] = []
    unreadable: list[str] = []
    for text in texts:
        documents = _documents(text)
        if not documents:
            unreadable.append("no checkpoint found in it")
        for number, document in enumerate(documents, start=1):
            for item in document if isinstance(document, list) else [document]:
                try:
                    found.append(Checkpoint.from_json(item))
                except ValueError as exc:
                    unreadable.append(f"document {number}: {exc}")
    # The same checkpoint twice (an attachment and its copy in the text) counts once.
    unique = list({c.signature: c for c in found}.values())
    return CheckpointCopies(unique, unreadable)

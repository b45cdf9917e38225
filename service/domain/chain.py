"""Hash chains over the consent ledger and the audit log, so that rewritten history shows.

Every consent event and every audit entry gets a link in `chain_links`: its chain ("events" or
"audit"), its position (1, 2, ...) and

    hash = SHA-256(the previous link's hash as 32 bytes
                   || "<chain> <position>\n" || canonical JSON of the entry's content)

with 64 zeros before the first link. An entry's content is its own columns plus keyed
commitments (HMAC-SHA256 under a key kept in the database, see commitment_key) of what may
lawfully disappear later: the evidence without its IP addresses, and the IP addresses on their
own (retention clears those, erasure removes the whole evidence). The chain therefore stays
whole after an erasure or a retention run, and evidence still present can be shown unaltered.

Entries are chained just after they commit, not in the transaction that writes them. A database
trigger (migration 0007) notes every new event and audit entry in `chain_pending`, whatever
code path wrote it; a sealer (the worker, about once a second; `consent checkpoint` and `consent
verify` before they read) takes the pending entries of both chains in one short transaction,
one sealer at a time, and appends them. A request therefore waits on no lock and pays one
trigger-made INSERT. Taking the position in the writing transaction would hold the head's lock
through every writer's COMMIT: measured on the opt-in benchmark, that queued the requests
behind one another (see README, "Proof that the ledger is whole"). The chain's order is the
order of sealing: commit order, in batches, by id within a batch.

A chain shows changes only against a head kept somewhere else: see service.domain.checkpoints.
An entry is protected from its sealing on by the chain (against accidents) and from the next
checkpoint on against whoever holds the database, which is why the second of delay costs
nothing that matters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, delete, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from service.domain.models import (
    AuditEntry,
    ChainCheckpoint,
    ChainHead,
    ChainLink,
    ChainPending,
    ConsentEvent,
    Contact,
    Evidence,
    ServiceState,
)
from service.domain.uow import UnitOfWork

EVENTS = "events"
AUDIT = "audit"
# Heads are always locked in this order, so two transactions writing both never deadlock.
CHAINS = (AUDIT, EVENTS)
GENESIS = "0" * 64
COMMITMENT_KEY_NAME = "ledger_commitment_key"
CHECKPOINT_FORMAT = "consent-register ledger checkpoint v1"

_LINKS = cast(Table, ChainLink.__table__)
_HEADS = cast(Table, ChainHead.__table__)
_INSERT_LINK = insert(_LINKS)
_LOCK_HEAD = (
    select(_HEADS.c.position, _HEADS.c.hash)
    .where(_HEADS.c.chain == bindparam("chain"))
    .with_for_update()
)
_MOVE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.chain == bindparam("head_chain"))
    .values(position=bindparam("head_position"), hash=bindparam("head_hash"))
)
_PENDING_TABLE = cast(Table, ChainPending.__table__)
# Any fixed number: every sealer takes this advisory lock, so one seals at a time.
SEALER_LOCK_ID = 7_214_003_002
EVENT_COLUMNS = ("id", "contact_id", "channel", "kind", "method", "source", "actor_type",
                 "actor_id", "notice_version", "notice_language", "occurred_at")
EVIDENCE_COLUMNS = ("contact_id", "ip", "source_ip", "user_agent", "page_url", "fields_json",
                    "note", "recorded_at")
AUDIT_COLUMNS = ("id", "occurred_at", "actor_type", "actor_id", "action", "contact_public_id",
                 "ip", "detail_json")


# --------------------------------------------------------------------------- what is hashed


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(value: Any) -> bytes:
    """Return the bytes every hash and commitment is made over: sorted keys, no spaces, UTF-8."""
    return _CANONICAL.encode(value).encode("utf-8")


def iso(value: datetime) -> str:
    """Return a time as UTC to the microsecond, the way the chain states times."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def link_hash(previous: str, chain: str, position: int, content: Mapping[str, Any]) -> str:
    """Return a link's hash: SHA-256 of the previous hash, the place and the content."""
    digest = hashlib.sha256(bytes.fromhex(previous))
    digest.update(f"{chain} {position}\n".encode("ascii"))
    digest.update(canonical(content))
    return digest.hexdigest()


def _mac(key: bytes, value: Mapping[str, Any]) -> str:
    return hmac.new(key, canonical(value), hashlib.sha256).hexdigest()


def evidence_commitment(key: bytes, event_id: int, evidence: Mapping[str, Any]) -> str:
    """Return the commitment to an event's evidence without its IP addresses."""
    return _mac(key, {
        "evidence_of": event_id,
        "contact_id": evidence["contact_id"],
        "user_agent": evidence["user_agent"],
        "page_url": evidence["page_url"],
        "fields": evidence["fields_json"],
        "note": evidence["note"],
        "recorded_at": iso(evidence["recorded_at"]),
    })


def ip_commitment(key: bytes, scope: str, entry_id: int, ip: str | None,
                  source_ip: str | None = None) -> str | None:
    """Return the commitment to an entry's IP addresses (None when it has none)."""
    if ip is None and source_ip is None:
        return None
    return _mac(key, {"ips_of": f"{scope}:{entry_id}", "ip": ip, "source_ip": source_ip})


def event_content(event: Mapping[str, Any], contact_public_id: str | None,
                  evidence: str | None, ips: str | None) -> dict[str, Any]:
    """Return what an event's link is made over: its columns and its commitments."""
    content = {name: event[name] for name in EVENT_COLUMNS}
    content["occurred_at"] = iso(event["occurred_at"])
    content["contact"] = contact_public_id
    content["evidence"] = evidence
    content["ips"] = ips
    return content


def audit_content(entry: Mapping[str, Any], ips: str | None) -> dict[str, Any]:
    """Return what an audit entry's link is made over: its columns, the IP as a commitment."""
    content = {name: entry[name] for name in AUDIT_COLUMNS if name != "ip"}
    content["occurred_at"] = iso(entry["occurred_at"])
    content["ips"] = ips
    return content


# --------------------------------------------------------------------------- the key


_KEYS: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()
_KEYS_LOCK = threading.Lock()


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _dialect_insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def read_commitment_key(session: Session) -> bytes | None:
    """Return the commitment key as the database holds it, if it holds one."""
    value = session.scalar(select(ServiceState.value)
                           .where(ServiceState.name == COMMITMENT_KEY_NAME))
    return bytes.fromhex(value) if value else None


def commitment_key(session: Session, now: datetime | None = None) -> bytes:
    """Return the key of evidence and IP commitments: generated once, kept, never rotated.

    It lives in the database beside the evidence (like the erasure key) so that commitments
    stay checkable whatever happens to CONSENT_SECRET_KEYS; it adds nothing to tamper evidence
    (that rests on the chain and its checkpoints), it keeps a commitment left after an erasure
    from being checked against guesses by anyone without the database. A process remembers
    the key once it has read it committed.
    """
    engine = _engine(session)
    with _KEYS_LOCK:
        known = _KEYS.get(engine)
    if known is not None:
        return known
    key = read_commitment_key(session)
    if key is not None:
        with _KEYS_LOCK:
            _KEYS[engine] = key
        return key
    # Made by this transaction, which may yet roll back: used, not remembered.
    session.execute(_dialect_insert(session)(ServiceState).values(
        name=COMMITMENT_KEY_NAME, value=secrets.token_hex(32),
        updated_at=now or datetime.now(UTC),
    ).on_conflict_do_nothing(index_elements=["name"]))
    key = read_commitment_key(session)
    if key is None:  # pragma: no cover - inserted or already there
        raise RuntimeError("the ledger's commitment key vanished")
    return key


# --------------------------------------------------------------------------- linking


@dataclass(frozen=True)
class _Linkable:
    """An entry about to be linked, its content worked out."""

    chain: str
    entry_id: int
    content: dict[str, Any]
    evidence: str | None = None
    ips: str | None = None


def _create_head(session: Session, chain: str) -> None:
    """Add a missing head row, at the chain's last link (a new or wiped database)."""
    position, digest = _last_link(session, chain) or (0, GENESIS)
    session.execute(_dialect_insert(session)(ChainHead).values(
        chain=chain, position=position, hash=digest,
    ).on_conflict_do_nothing(index_elements=["chain"]))


def _lock_heads(session: Session, chains: Iterable[str]) -> dict[str, tuple[int, str]]:
    heads: dict[str, tuple[int, str]] = {}
    for chain in chains:
        row = session.execute(_LOCK_HEAD, {"chain": chain}).first()
        if row is None:
            _create_head(session, chain)
            row = session.execute(_LOCK_HEAD, {"chain": chain}).one()
        heads[chain] = (int(row.position), str(row.hash))
    return heads


def link(session: Session, items: Sequence[_Linkable]) -> None:
    """Append the entries to their chains: lock the heads, write the links, move the heads."""
    if not items:
        return
    wanted = {item.chain for item in items}
    heads = _lock_heads(session, [c for c in CHAINS if c in wanted])
    rows = []
    for item in items:
        position, previous = heads[item.chain]
        position += 1
        digest = link_hash(previous, item.chain, position, item.content)
        heads[item.chain] = (position, digest)
        rows.append({"chain": item.chain, "position": position, "entry_id": item.entry_id,
                     "hash": digest, "evidence_commitment": item.evidence,
                     "ip_commitment": item.ips})
    session.execute(_INSERT_LINK, rows[0] if len(rows) == 1 else rows)
    for chain in wanted:
        position, digest = heads[chain]
        session.execute(_MOVE_HEAD, {"head_chain": chain, "head_position": position,
                                     "head_hash": digest})


def _last_link(session: Session, chain: str) -> tuple[int, str] | None:
    last = session.execute(
        select(_LINKS.c.position, _LINKS.c.hash).where(_LINKS.c.chain == chain)
        .order_by(_LINKS.c.position.desc()).limit(1)).first()
    return (int(last.position), str(last.hash)) if last else None


def read_heads(session: Session) -> dict[str, tuple[int, str]]:
    """Return each chain's head (position, hash); (0, GENESIS) for a chain without links."""
    heads: dict[str, tuple[int, str]] = {}
    for row in session.execute(select(_HEADS.c.chain, _HEADS.c.position, _HEADS.c.hash)):
        heads[str(row.chain)] = (int(row.position), str(row.hash))
    for chain in CHAINS:
        if chain not in heads:  # never written to, or its head row lost: the last link
            heads[chain] = _last_link(session, chain) or (0, GENESIS)
    return heads


# --------------------------------------------------------------------------- sealing


@dataclass(frozen=True)
class SealReport:
    """How many entries sealing appended to each chain."""

    events: int
    audit: int


def _event_query() -> Select[Any]:
    evidence = [getattr(Evidence, name).label(f"ev_{name}") for name in EVIDENCE_COLUMNS]
    return (
        select(*[getattr(ConsentEvent, name) for name in EVENT_COLUMNS],
               Contact.public_id.label("contact_public_id"), Evidence.id.label("ev_id"),
               *evidence)
        .join(Contact, Contact.id == ConsentEvent.contact_id)
        .outerjoin(Evidence, Evidence.event_id == ConsentEvent.id)
    )


def _audit_query() -> Select[Any]:
    return select(*[getattr(AuditEntry, name) for name in AUDIT_COLUMNS])


def _rows(session: Session, query: Select[Any]) -> list[Mapping[str, Any]]:
    return [cast(Mapping[str, Any], row._mapping) for row in session.execute(query)]


def evidence_of(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """Return the evidence columns of a row that joined them as ev_*, None when none."""
    if row["ev_id"] is None:
        return None
    return {name: row[f"ev_{name}"] for name in EVIDENCE_COLUMNS}


def _linkables(session: Session, events: Sequence[Mapping[str, Any]],
               entries: Sequence[Mapping[str, Any]]) -> list[_Linkable]:
    """Work out the content and commitments of events (with evidence) and audit entries."""
    items: list[_Linkable] = []
    key = commitment_key(session) if events or entries else b""
    for row in events:
        found = evidence_of(row)
        evidence_mac = ips = None
        if found is not None:
            evidence_mac = evidence_commitment(key, row["id"], found)
            ips = ip_commitment(key, "event", row["id"], found["ip"], found["source_ip"])
        items.append(_Linkable(EVENTS, row["id"],
                               event_content(row, row["contact_public_id"], evidence_mac, ips),
                               evidence_mac, ips))
    for row in entries:
        ips = ip_commitment(key, "audit", row["id"], row["ip"]) if row["ip"] else None
        items.append(_Linkable(AUDIT, row["id"], audit_content(row, ips), None, ips))
    return items


def _take_sealer_lock(session: Session, *, wait: bool) -> bool:
    """Become the one sealer (PostgreSQL; SQLite has one writer anyway); False if taken."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    if wait:
        session.execute(select(func.pg_advisory_xact_lock(SEALER_LOCK_ID)))
        return True
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(SEALER_LOCK_ID))))


def seal_pending_batch(session: Session, *, limit: int = 5000, wait: bool = True
                       ) -> SealReport | None:
    """Chain up to limit pending entries of each chain, in the caller's transaction.

    None when another sealer holds the lock and wait is False. Entries are taken in id order;
    a pending entry whose row is gone (deleted before it was sealed) is dropped from the queue.
    """
    if not _take_sealer_lock(session, wait=wait):
        return None
    pending = {name: list(session.scalars(
        select(_PENDING_TABLE.c.entry_id).where(_PENDING_TABLE.c.chain == name)
        .order_by(_PENDING_TABLE.c.entry_id).limit(limit))) for name in CHAINS}
    if not pending[EVENTS] and not pending[AUDIT]:
        return SealReport(0, 0)
    events = _rows(session, _event_query().where(ConsentEvent.id.in_(pending[EVENTS]))
                   .order_by(ConsentEvent.id)) if pending[EVENTS] else []
    entries = _rows(session, _audit_query().where(AuditEntry.id.in_(pending[AUDIT]))
                    .order_by(AuditEntry.id)) if pending[AUDIT] else []
    link(session, _linkables(session, events, entries))
    for name, ids in pending.items():
        if ids:
            session.execute(delete(_PENDING_TABLE).where(_PENDING_TABLE.c.chain == name,
                                                         _PENDING_TABLE.c.entry_id.in_(ids)))
    return SealReport(len(events), len(entries))


def seal_unlinked_batch(session: Session, *, limit: int = 5000) -> SealReport:
    """Chain up to limit entries of each chain that have neither a link nor a pending note.

    Rows written before the chains existed (migration 0007 seals them) or with the trigger
    disabled. Evidence is committed to as it stands now.
    """
    _take_sealer_lock(session, wait=True)
    unlinked = {name: ~exists().where(ChainLink.chain == name, ChainLink.entry_id == column)
                & ~exists().where(_PENDING_TABLE.c.chain == name,
                                  _PENDING_TABLE.c.entry_id == column)
                for name, column in ((EVENTS, ConsentEvent.id), (AUDIT, AuditEntry.id))}
    events = _rows(session, _event_query().where(unlinked[EVENTS])
                   .order_by(ConsentEvent.id).limit(limit))
    entries = _rows(session, _audit_query().where(unlinked[AUDIT])
                    .order_by(AuditEntry.id).limit(limit))
    link(session, _linkables(session, events, entries))
    return SealReport(len(events), len(entries))


def seal(uow: UnitOfWork, *, wait: bool = True, unlinked: bool = False, limit: int = 5000,
         progress: Callable[[SealReport], None] | None = None) -> SealReport | None:
    """Chain every pending entry (or, with unlinked, every entry without a link or note).

    One short transaction per batch. None when wait is False and another sealer is at work.
    """
    events = audit = 0
    while True:
        with uow:
            if unlinked:
                batch: SealReport | None = seal_unlinked_batch(uow.session, limit=limit)
            else:
                batch = seal_pending_batch(uow.session, limit=limit, wait=wait)
            if batch is None:
                return None
            uow.commit()
        events, audit = events + batch.events, audit + batch.audit
        if progress is not None and (batch.events or batch.audit):
            progress(SealReport(events, audit))
        if batch.events < limit and batch.audit < limit:
            return SealReport(events, audit)


def pending_count(session: Session, chain: str) -> int:
    """Return how many entries of a chain wait to be sealed."""
    return int(session.scalar(select(func.count()).select_from(_PENDING_TABLE)
                              .where(_PENDING_TABLE.c.chain == chain)) or 0)


# --------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class Checkpoint:
    """Both chains' heads at one moment, signed with the service's Ed25519 key.

    The signature is over message(): four lines of text, so that anyone with the public key
    can check it with common tools (openssl pkeyutl -verify -rawin).
    """

    made_at: datetime
    events_position: int
    events_hash: str
    audit_position: int
    audit_hash: str
    key_id: str
    public_key: str  # raw 32-byte Ed25519 public key, base64
    signature: str  # base64

    def message(self) -> bytes:
        """Return the signed text."""
        return (f"{CHECKPOINT_FORMAT}\nmade-at {iso(self.made_at)}\n"
                f"events {self.events_position} {self.events_hash}\n"
                f"audit {self.audit_position} {self.audit_hash}\n").encode("ascii")

    def head(self, chain: str) -> tuple[int, str]:
        """Return the (position, hash) this checkpoint states for a chain."""
        if chain == EVENTS:
            return self.events_position, self.events_hash
        return self.audit_position, self.audit_hash

    def as_json(self) -> dict[str, Any]:
        """Return the checkpoint as the JSON document mailed and kept in files."""
        return {
            "format": CHECKPOINT_FORMAT,
            "made_at": iso(self.made_at),
            "events": {"position": self.events_position, "hash": self.events_hash},
            "audit": {"position": self.audit_position, "hash": self.audit_hash},
            "key_id": self.key_id,
            "public_key": self.public_key,
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, value: Any) -> Checkpoint:
        """Read a checkpoint document; raise ValueError saying what is wrong with it."""
        if not isinstance(value, Mapping) or value.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"not a checkpoint (its format is not {CHECKPOINT_FORMAT!r})")
        try:
            events, audit = value["events"], value["audit"]
            return cls.parse(str(value["made_at"]), events["position"], events["hash"],
                             audit["position"], audit["hash"], value["key_id"],
                             value["public_key"], value["signature"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"checkpoint without {exc}") from None

    @classmethod
    def parse(cls, made_at: str, events_position: Any, events_hash: Any, audit_position: Any,
              audit_hash: Any, key_id: Any, public_key: Any, signature: Any) -> Checkpoint:
        """Build a checkpoint from its parts as text (a Sheet row, a JSON document)."""
        try:
            when = datetime.strptime(made_at.strip(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        except ValueError:
            raise ValueError(f"made_at {made_at!r} is not a time such as "
                             "2026-11-20T09:00:00.000000Z") from None
        hashes = [str(events_hash).strip().lower(), str(audit_hash).strip().lower()]
        for digest in hashes:
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"{digest!r} is not a SHA-256 hash in hex")
        try:
            positions = [int(str(events_position).strip()), int(str(audit_position).strip())]
            base64.b64decode(str(public_key), validate=True)
            base64.b64decode(str(signature), validate=True)
        except (ValueError, binascii.Error):
            raise ValueError("a position is not a number, or the key or signature not "
                             "base64") from None
        if min(positions) < 0:
            raise ValueError("a position is negative")
        return cls(when, positions[0], hashes[0], positions[1], hashes[1], str(key_id).strip(),
                   str(public_key).strip(), str(signature).strip())

    @classmethod
    def from_row(cls, row: ChainCheckpoint) -> Checkpoint:
        """Return the checkpoint a chain_checkpoints row keeps."""
        return cls(row.made_at, row.events_position, row.events_hash, row.audit_position,
                   row.audit_hash, row.key_id, row.public_key, row.signature)


# --------------------------------------------------------------------------- for proof packs


@dataclass(frozen=True)
class EntryProof:
    """Where one entry stands in its chain, and the first checkpoint made after it."""

    chain: str
    entry_id: int
    position: int
    hash: str
    previous_hash: str
    covered_by: Checkpoint | None  # None: no checkpoint made since; `consent checkpoint` makes one


def entry_proof(session: Session, chain: str, entry_id: int) -> EntryProof | None:
    """Return an entry's position, hash and covering checkpoint; None when it has no link."""
    found = session.execute(select(_LINKS.c.position, _LINKS.c.hash).where(
        _LINKS.c.chain == chain, _LINKS.c.entry_id == entry_id)).first()
    if found is None:
        return None
    position = int(found.position)
    previous = GENESIS
    if position > 1:
        previous = str(session.scalar(select(_LINKS.c.hash).where(
            _LINKS.c.chain == chain, _LINKS.c.position == position - 1)) or "")
    column = (ChainCheckpoint.events_position if chain == EVENTS
              else ChainCheckpoint.audit_position)
    covering = session.scalars(select(ChainCheckpoint).where(column >= position)
                               .order_by(ChainCheckpoint.id).limit(1)).first()
    return EntryProof(chain, entry_id, position, str(found.hash), previous,
                      Checkpoint.from_row(covering) if covering is not None else None)


def event_proof(session: Session, event_id: int) -> EntryProof | None:
    """Return a consent event's place in the events chain and its first covering checkpoint."""
    return entry_proof(session, EVENTS, event_id)

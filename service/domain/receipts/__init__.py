"""Consent records and receipts as ISO/IEC TS 27560 JSON-LD with the Data Privacy Vocabulary.

The shapes follow the DPVCG report "Consent Records and Receipts as per ISO/IEC TS 27560:2023
using DPV" (https://w3id.org/dpv/guides/consent-27560): one `dpv:ConsentRecord` per channel (a
consent to one purpose: direct marketing by email, or by SMS) with its full history of
`dpv:hasConsentStatus`, and a receipt that is a `dpv:ConsentReceipt` wrapping minimal copies of
those records (`dpv:hasRecordOfActivity`), each with the state now. Everything here is pure: it
turns what rights.held_record reads into plain dicts, ready for json.dumps.

The documents embed the bundled context (contexts/dpv-27560.jsonld) instead of naming it by
URL: a receipt handed to a person stays readable without this service, and expanding it fetches
nothing.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any, NoReturn

from service.domain.dependencies import Practice
from service.domain.models import ActorType, EventKind, Method

# The profiles, as named in the brief and in the DPVCG's drafts of the report; the final report
# (2024-08-01) names the same profiles under https://w3id.org/dpv/schema/dpv-27560 (#record,
# #receipt). One place to change should the register follow the final names.
PROFILES = "https://w3id.org/dpv/schema/iso-27560"
RECORD_PROFILE = f"{PROFILES}#record"
RECEIPT_PROFILE = f"{PROFILES}#receipt-minimal"

FILENAME = "consent-receipt.jsonld"
MEDIA_TYPE = "application/ld+json"
CONTEXT_FILE = "dpv-27560.jsonld"

JURISDICTION = "loc:FI"
APPLICABLE_LAW = "eu-gdpr:GDPR"
LEGAL_BASIS = "eu-gdpr:A6-1-a"
# The practices' privacy notices promise to keep the data inside the EU/EEA.
STORAGE_LOCATION = "loc:EEA"

# Identifiers are UUIDs derived from what they identify, so the same record always has the
# same id and building a document twice from the same data gives the same document.
_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "https://w3id.org/dpv/schema/iso-27560/consent-register")

PURPOSES = {
    "email": "Direct marketing by email: the practice's newsletter",
    "sms": "Direct marketing by text message (SMS)",
}
PERSONAL_DATA = {"email": "pd:EmailAddress", "sms": "pd:TelephoneNumber"}

# DPV consent states (dpv:ConsentStatus). A bounce says nothing about consent: it is left out.
STATUS = {
    EventKind.REQUESTED.value: ["dpv:ConsentRequested"],
    EventKind.CONFIRMED.value: ["dpv:ConsentGiven", "dpv:ExpressedConsent"],
    EventKind.GRANTED.value: ["dpv:ConsentGiven", "dpv:ExpressedConsent"],
    EventKind.WITHDRAWN.value: ["dpv:ConsentWithdrawn"],
    EventKind.COMPLAINED.value: ["dpv:ConsentWithdrawn"],
}
# ISO/IEC TS 27560 "event duration": how long each state holds.
LASTS = {
    "dpv:ConsentRequested": "until the person confirms it through the link mailed to them; "
                            "a request never confirmed is removed",
    "dpv:ConsentGiven": "until the person withdraws it",
    "dpv:ConsentWithdrawn": "until the person gives consent again",
}

# How each change came about (dpv:hasIndicationMethod), in words a reader of the receipt knows.
METHODS = {
    Method.WEB_FORM.value: "web form",
    Method.FORM_WEBHOOK.value: "form plugin on the practice's website",
    Method.VERBAL_IN_PERSON.value: "verbally, in person",
    Method.VERBAL_PHONE.value: "verbally, by phone",
    Method.IMPORT.value: "import from the practice's earlier list",
    Method.UNSUBSCRIBE_PAGE.value: "unsubscribe page",
    Method.ONE_CLICK.value: "one-click unsubscribe in the mail program",
    Method.STAFF_ON_REQUEST.value: "by the practice's staff, on the person's request",
    Method.PROVIDER_BOUNCE.value: "the mail provider reported the address undeliverable",
    Method.PROVIDER_COMPLAINT.value: "spam complaint through the mail provider",
    Method.PROVIDER_UNSUBSCRIBE.value: "unsubscribe through the mail provider",
    Method.CONFIRMATION_LINK.value: "confirmation link mailed to the address",
    Method.UNDO_LINK.value: "undo button after unsubscribing",
    Method.RECEIPT_DISPUTE.value: "\"I never agreed\" on the consent receipt",
    Method.API.value: "another system of the practice",
}

RIGHTS = (
    ("eu-gdpr:A7-3", "Right to withdraw consent"),
    ("eu-gdpr:A15", "Right of access"),
    ("eu-gdpr:A16", "Right to rectification"),
    ("eu-gdpr:A17", "Right to erasure"),
    ("eu-gdpr:A20", "Right to data portability"),
    ("eu-gdpr:A21", "Right to object to direct marketing"),
)


class RemoteDocumentRefused(Exception):
    """A JSON-LD processor asked for a document: these documents need none."""


@dataclass(frozen=True)
class Controller:
    """The practice as the controller of the register."""

    name: str
    iri: str
    privacy_url: str | None
    withdraw_url: str
    address: str | None = None  # postal (CONSENT_ORGANIZATION_ADDRESS)


def controller_of(practice: Practice) -> Controller:
    """Describe the practice from its settings (CONSENT_ORGANIZATION, CONSENT_PRIVACY_URL)."""
    base = practice.public_url.rstrip("/")
    return Controller(name=practice.organization, iri=f"{base}/#controller",
                      privacy_url=practice.privacy_url, withdraw_url=f"{base}/unsubscribe",
                      address=practice.organization_address)


@cache
def _bundled_context() -> str:
    return (resources.files(__name__) / "contexts" / CONTEXT_FILE).read_text(encoding="utf-8")


def context() -> dict[str, Any]:
    """Return the bundled JSON-LD context the documents embed (a fresh copy)."""
    loaded: dict[str, Any] = json.loads(_bundled_context())["@context"]
    return loaded


def refuse_remote_documents(url: str, options: Mapping[str, Any] | None = None) -> NoReturn:
    """Be a pyld document loader that fetches nothing: the documents carry their context."""
    raise RemoteDocumentRefused(f"{url} is not bundled; nothing is fetched")


def as_bytes(document: Mapping[str, Any]) -> bytes:
    """Serialise a document the way it is downloaded and attached (UTF-8, indented)."""
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _urn(name: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_IDS, name)}"


def record_id(public_id: str, channel: str) -> str:
    """Return the identifier of one person's consent record for one channel."""
    return str(uuid.uuid5(_IDS, f"record:{public_id}:{channel}"))


def _subject(public_id: str) -> dict[str, Any]:
    return {"@id": f"urn:uuid:{public_id}", "@type": "dpv:DataSubject",
            "dct:identifier": public_id}


def _entity(controller: Controller) -> dict[str, Any]:
    """The controller's entity fields (name, identifier, contact, address) as the report lists.

    The postal address the report requires comes from CONSENT_ORGANIZATION_ADDRESS; without it
    the records lack that one field.
    """
    contact = controller.privacy_url or controller.withdraw_url
    node: dict[str, Any] = {
        "@id": controller.iri,
        "@type": ["dpv:DataController", "dpv:Organisation"],
        "dpv:hasName": controller.name,
        "dpv:hasIdentifier": controller.iri,
        "schema:contactPoint": {"@type": "schema:ContactPoint", "schema:url": contact},
    }
    if controller.privacy_url:
        node["schema:url"] = controller.privacy_url
    if controller.address:
        node["schema:address"] = controller.address
    return node


def _purpose(channel: str) -> dict[str, Any]:
    return {"@type": "dpv:Purpose", "skos:broader": "dpv:DirectMarketing",
            "dct:description": PURPOSES.get(channel, f"Direct marketing by {channel}")}


def _process(channel: str, controller: Controller, *, named: bool) -> dict[str, Any]:
    data = [PERSONAL_DATA.get(channel, "pd:Contact")] + (["pd:Name"] if named else [])
    return {
        "@type": "dpv:Process",
        "dpv:hasPurpose": _purpose(channel),
        "dpv:hasPersonalData": data,
        "dpv:hasDataController": controller.iri,
        "dpv:hasRecipient": controller.iri,
        "dpv:hasJurisdiction": JURISDICTION,
        "dpv:hasLegalBasis": LEGAL_BASIS,
        "dpv:hasStorageCondition": [
            {"@type": "dpv:StorageLocation", "dpv:hasLocation": STORAGE_LOCATION},
            {"@type": "dpv:StorageDuration", "dpv:hasDuration": {
                "@type": "dpv:UntilEventDuration",
                "rdf:value": "until the person asks for erasure; who agreed to what and when "
                             "is kept as proof of consent (GDPR Art. 7(1))",
            }},
        ],
    }


def _withdrawal(controller: Controller) -> dict[str, Any]:
    return {
        "@type": "dpv:WithdrawConsent",
        "dpv:isExercisedAt": controller.withdraw_url,
        "dct:description": "The unsubscribe link in every message, the practice's unsubscribe "
                           "page (which mails that link), or asking the practice.",
    }


def _rights(controller: Controller) -> list[dict[str, Any]]:
    """The person's rights; the privacy notice (when set) says how to use those but withdrawal."""
    rights = []
    for right, title in RIGHTS:
        node: dict[str, Any] = {"@type": ["dpv:DataSubjectRight", right], "dct:title": title}
        where = controller.withdraw_url if right == "eu-gdpr:A7-3" else controller.privacy_url
        if where:
            node["dpv:isExercisedAt"] = where
        rights.append(node)
    return rights


def _notice_iri(event: Mapping[str, Any]) -> str:
    return _urn(f"notice:{event['notice_version']}:{event['notice_language']}")


def _notice(event: Mapping[str, Any]) -> dict[str, Any]:
    """The exact wording shown or read out, with the SHA-256 of its text."""
    language = event["notice_language"]
    node: dict[str, Any] = {
        "@id": _notice_iri(event),
        "@type": "dpv:ConsentNotice",
        "dct:hasVersion": str(event["notice_version"]),
        "dct:language": language,
    }
    if event.get("notice_text") is not None:
        node["dct:description"] = {"@value": event["notice_text"], "@language": language}
    if event.get("notice_hash"):
        digest = bytes.fromhex(event["notice_hash"])
        node["spdx:checksum"] = {
            # The hash's own name (RFC 6920), so that records sharing a notice share it too.
            "@id": "ni:///sha-256;" + base64.urlsafe_b64encode(digest).decode().rstrip("="),
            "@type": "spdx:Checksum",
            "spdx:algorithm": "spdx:checksumAlgorithm_sha256",
            "spdx:checksumValue": event["notice_hash"],
        }
    return node


def _method(event: Mapping[str, Any]) -> str:
    words = METHODS.get(event["method"], str(event["method"]).replace("_", " "))
    if event["method"] == Method.FORM_WEBHOOK.value and event.get("source"):
        words = f"{words} ({event['source']})"
    return words


def _status(event: Mapping[str, Any], subject: str, controller: Controller) -> dict[str, Any]:
    """One change of the consent: its state, when, how, by whom and under which wording."""
    kinds = STATUS[event["kind"]]
    node: dict[str, Any] = {
        "@type": kinds if len(kinds) > 1 else kinds[0],
        "dpv:isIndicatedAtTime": event["occurred_at"],
        "dpv:isIndicatedBy": subject,
        "dpv:hasIndicationMethod": _method(event),
        "dpv:hasDuration": {"@type": "dpv:UntilEventDuration", "rdf:value": LASTS[kinds[0]]},
    }
    if event["actor_type"] != ActorType.PERSON.value:
        # Recorded by the practice (staff at the desk, an API key, a provider's report).
        node["dpv:isImplementedByEntity"] = controller.iri
    if event.get("notice_version") and event.get("notice_language"):
        node["dpv:hasNotice"] = {"@id": _notice_iri(event)}
    return node


def _consent_events(held: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    """Return each channel's consent changes, oldest first (bounces left out)."""
    by_channel: dict[str, list[Mapping[str, Any]]] = {}
    for event in held["consent_events"]:
        if event["kind"] in STATUS:
            by_channel.setdefault(event["channel"], []).append(event)
    return by_channel


def _notices(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.get("notice_version") and event.get("notice_language"):
            seen.setdefault(_notice_iri(event), _notice(event))
    return list(seen.values())


def _record(held: Mapping[str, Any], channel: str, events: Sequence[Mapping[str, Any]],
            controller: Controller) -> dict[str, Any]:
    """The full consent record of one channel (profile #record)."""
    person = held["contact"]
    subject = _subject(person["id"])
    identifier = record_id(person["id"], channel)
    return {
        "@id": f"urn:uuid:{identifier}",
        "@type": "dpv:ConsentRecord",
        "dct:identifier": identifier,
        "dpv:hasIdentifier": identifier,
        "dct:conformsTo": RECORD_PROFILE,
        "dct:language": person["language"],
        "dct:modified": events[-1]["occurred_at"],
        "dpv:hasDataSubject": subject,
        "dpv:hasDataController": controller.iri,
        "dpv:hasJurisdiction": JURISDICTION,
        "dpv:hasApplicableLaw": APPLICABLE_LAW,
        "dpv:hasLegalBasis": LEGAL_BASIS,
        "dpv:hasProcess": _process(channel, controller, named=bool(person.get("name"))),
        "dpv:hasNotice": _notices(events),
        "dpv:hasConsentControl": _withdrawal(controller),
        "dpv:hasRight": _rights(controller),
        "dpv:hasConsentStatus": [_status(e, subject["@id"], controller) for e in events],
        "dpv:hasEntity": controller.iri,
    }


def consent_records(held: Mapping[str, Any], controller: Controller) -> dict[str, Any]:
    """Return a person's consent records, one per channel, as one JSON-LD document.

    The controller's entity fields are given once, beside the records that name it.
    """
    graph = [_record(held, channel, events, controller)
             for channel, events in sorted(_consent_events(held).items())]
    return {"@context": context(), "@graph": [*graph, _entity(controller)]}


def _current(held: Mapping[str, Any], channel: str, events: Sequence[Mapping[str, Any]],
             controller: Controller) -> dict[str, Any]:
    """A minimal copy of one record: who, what for, under which wording, and the state now."""
    person = held["contact"]
    subject = f"urn:uuid:{person['id']}"
    identifier = record_id(person["id"], channel)
    node: dict[str, Any] = {
        "@id": f"urn:uuid:{identifier}",
        "@type": "dpv:ConsentRecord",
        "dct:identifier": identifier,
        "dpv:hasDataSubject": subject,
        "dpv:hasDataController": controller.iri,
        "dpv:hasJurisdiction": JURISDICTION,
        "dpv:hasApplicableLaw": APPLICABLE_LAW,
        "dpv:hasLegalBasis": LEGAL_BASIS,
        "dpv:hasPurpose": _purpose(channel),
        "dpv:hasConsentControl": _withdrawal(controller),
        "dpv:hasConsentStatus": _status(events[-1], subject, controller),
    }
    worded = [e for e in events if e.get("notice_version") and e.get("notice_language")]
    if worded:
        node["dpv:hasNotice"] = _notice(worded[-1])
    return node


def consent_receipt(held: Mapping[str, Any], controller: Controller, *,
                    created: datetime) -> dict[str, Any]:
    """Return the person's consent receipt (profile #receipt-minimal) as of created."""
    person = held["contact"]
    identifier = str(uuid.uuid5(_IDS, f"receipt:{person['id']}:{created.isoformat()}"))
    return {
        "@context": context(),
        "@id": f"urn:uuid:{identifier}",
        "@type": "dpv:ConsentReceipt",
        "dct:identifier": identifier,
        "dpv:hasIdentifier": identifier,
        "dct:conformsTo": RECEIPT_PROFILE,
        "dct:created": created.isoformat(),
        "dct:publisher": _entity(controller),
        "dct:audience": f"urn:uuid:{person['id']}",
        "dpv:hasRecordOfActivity": [
            _current(held, channel, events, controller)
            for channel, events in sorted(_consent_events(held).items())
        ],
    }

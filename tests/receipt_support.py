"""Helpers for the consent receipt tests: three people, their mail, and JSON-LD expansion.

The required fields are those the DPVCG report "Consent Records and Receipts as per ISO/IEC TS
27560:2023 using DPV" (final community group report, 2024-08-01,
https://w3id.org/dpv/guides/consent-27560) marks "This field MUST be present", section by
section, with the IRI each key expands to.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from pyld import jsonld

from service.domain import receipts
from tests.register_support import new_key
from tests.webhook_support import add_source

DPV = "https://w3id.org/dpv#"
DCT = "http://purl.org/dc/terms/"
SCHEMA = "https://schema.org/"
LOC = "https://w3id.org/dpv/loc#"
PD = "https://w3id.org/dpv/pd#"
GDPR = "https://w3id.org/dpv/legal/eu/gdpr#"
SPDX = "http://spdx.org/rdf/terms#"
XSD_DATETIME = "http://www.w3.org/2001/XMLSchema#dateTime"

# "DPV-27560 Consent Record": Record Metadata, Notice Fields, Processing Fields and Consent
# Event Fields. The processing fields may sit on the record or on its dpv:Process (the report's
# table puts them in the process, its examples put several on the record).
RECORD_REQUIRED = {
    "schema version": DCT + "conformsTo",
    "record identifier": DCT + "identifier",
    "data subject": DPV + "hasDataSubject",
    "notice": DPV + "hasNotice",
    "process": DPV + "hasProcess",
    "data controller": DPV + "hasDataController",
    "consent change & withdrawal": DPV + "hasConsentControl",
    "jurisdiction": DPV + "hasJurisdiction",
    "rights": DPV + "hasRight",
    "consent type": DPV + "hasLegalBasis",
    "consent state": DPV + "hasConsentStatus",
}
PROCESS_REQUIRED = {
    "purpose": DPV + "hasPurpose",
    "personal data": DPV + "hasPersonalData",
    "storage condition": DPV + "hasStorageCondition",
    "data controller": DPV + "hasDataController",
    "recipients": DPV + "hasRecipient",
}
NOTICE_REQUIRED = {"notice language": DCT + "language"}
# "Consent Event Fields": event time, event duration, expression by entity.
STATUS_REQUIRED = {
    "event time": DPV + "isIndicatedAtTime",
    "event duration": DPV + "hasDuration",
    "expression by entity": DPV + "isIndicatedBy",
}
# "Entity Fields": name, identifier, role (hasDataController above), contact, and the postal
# address (from CONSENT_ORGANIZATION_ADDRESS, which the tests' settings give).
ENTITY_REQUIRED = {
    "name": DPV + "hasName",
    "identifier": DPV + "hasIdentifier",
    "contact": SCHEMA + "contactPoint",
    "address": SCHEMA + "address",
}
# "DPV-27560 Consent Receipts": schema version, receipt identifier, associated consent record,
# creation timestamp.
RECEIPT_REQUIRED = {
    "schema version": DCT + "conformsTo",
    "receipt identifier": DPV + "hasIdentifier",
    "associated consent record": DPV + "hasRecordOfActivity",
    "creation timestamp": DCT + "created",
}
# What each minimal copy of a record carries: the report's summary receipt example (purpose,
# the state now with its time and who expressed it) and who the controller is, on what legal
# basis, and under which wording.
RECEIPT_RECORD_REQUIRED = {
    "record identifier": DCT + "identifier",
    "data subject": DPV + "hasDataSubject",
    "data controller": DPV + "hasDataController",
    "jurisdiction": DPV + "hasJurisdiction",
    "consent type": DPV + "hasLegalBasis",
    "purpose": DPV + "hasPurpose",
    "notice": DPV + "hasNotice",
    "consent change & withdrawal": DPV + "hasConsentControl",
    "consent state": DPV + "hasConsentStatus",
}

CONFIRM_LINK = re.compile(r"https://consent\.example\.fi(/confirm/[A-Za-z0-9_.\-]+)")
FORM_PLUGIN = {"your-name": "Jane Doe", "your-email": "jane@example.com", "uutiskirje": "1",
               "language": "en"}


def expand(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Flatten a document with pyld; anything it would fetch is refused."""
    options = {"documentLoader": receipts.refuse_remote_documents}
    flat: list[dict[str, Any]] = jsonld.flatten(document, None, options)
    return flat


def nodes_by_id(flat: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Index a flattened graph by node id."""
    return {node["@id"]: node for node in flat}


def of_type(flat: list[dict[str, Any]], iri: str) -> list[dict[str, Any]]:
    """Return the nodes of a type."""
    return [node for node in flat if iri in node.get("@type", [])]


def ids(node: dict[str, Any], prop: str) -> list[str]:
    """Return the node ids (IRIs) a property points at."""
    return [value["@id"] for value in node.get(prop, []) if "@id" in value]


def values(node: dict[str, Any], prop: str) -> list[Any]:
    """Return the literal values of a property."""
    return [value["@value"] for value in node.get(prop, []) if "@value" in value]


def missing(node: dict[str, Any], required: dict[str, str]) -> list[str]:
    """Name the required fields a node lacks."""
    return [name for name, iri in required.items() if not node.get(iri)]


def keys_used(document: Any) -> set[str]:
    """Return every key a document uses that is not a JSON-LD keyword."""
    found: set[str] = set()
    if isinstance(document, dict):
        for key, value in document.items():
            if key == "@context":
                continue
            if not key.startswith("@"):
                found.add(key)
            found |= keys_used(value)
    elif isinstance(document, list):
        for item in document:
            found |= keys_used(item)
    return found


def mails(container: Any) -> list[EmailMessage]:
    """Deliver what is queued and return every message written to the outbox, oldest first."""
    container.worker().drain()
    files = sorted(Path(container.settings.outbox_dir).glob("*.eml"),
                   key=lambda f: f.stat().st_mtime_ns)
    return [email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
            for f in files]


def receipt_of(message: EmailMessage) -> dict[str, Any]:
    """Return the JSON-LD receipt attached to a message."""
    [part] = [p for p in message.iter_attachments()
              if p.get_filename() == receipts.FILENAME]
    assert part.get_content_type() == receipts.MEDIA_TYPE
    content = part.get_payload(decode=True)
    assert isinstance(content, bytes)
    document: dict[str, Any] = json.loads(content)
    return document


def text_of(message: EmailMessage) -> str:
    """Return the plain text of a message."""
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def web_form_fi(client: Any, container: Any) -> str:
    """Maija opts in on the hosted form (Finnish, email and SMS) and confirms: her public id."""
    answer = client.post("/api/v1/subscribe", json={
        "email": "maija@example.fi", "name": "Maija", "phone": "040 123 4567",
        "channels": ["email", "sms"], "consent": True, "language": "fi",
        "page_url": "https://klinikka.example.fi/uutiskirje"})
    assert answer.status_code == 202, answer.get_data(as_text=True)
    [confirmation] = mails(container)
    link = CONFIRM_LINK.search(text_of(confirmation))
    assert link
    assert client.post(link.group(1)).status_code == 200
    return _public_id(client, container, "maija@example.fi")


def verbal_phone_sv(client: Any, container: Any) -> str:
    """Sven agrees on the phone (Swedish, SMS only), recorded by another system: his id."""
    key = new_key(container, "reception", "staff")
    answer = client.post("/api/v1/consents", headers={"Authorization": f"Bearer {key}"},
                         json={"phone": "+358 50 765 4321", "name": "Sven", "language": "sv",
                               "channels": ["sms"], "method": "phone", "notice": 1})
    assert answer.status_code in (200, 201), answer.get_data(as_text=True)
    return str(answer.get_json()["contact_id"])


def form_plugin_en(client: Any, container: Any) -> str:
    """Jane ticks the box of a Contact Form 7 form (English, single opt-in): her public id."""
    token = add_source(container, "clinic-site", "cf7", double_opt_in=False,
                       mapping={"consent": ["uutiskirje"]})
    answer = client.post("/webhooks/forms/clinic-site", json=FORM_PLUGIN,
                         headers={"X-Consent-Secret": token})
    assert answer.status_code == 200 and answer.get_json()["status"] == "subscribed"
    return _public_id(client, container, "jane@example.com")


def _public_id(client: Any, container: Any, address: str) -> str:
    from tests.webhook_support import contact

    found = contact(container, address)
    assert found is not None
    return found.public_id

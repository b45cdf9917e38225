"""Consent records and receipts expand with pyld against the bundled context, offline, and carry
every field the ISO/IEC TS 27560 DPV profile requires (see tests/receipt_support.py)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from pyld import jsonld

from service.domain import ledger, receipts, rights
from service.domain.ledger import Actor
from service.domain.models import ActorType, Notice
from tests.receipt_support import (
    DCT,
    DPV,
    ENTITY_REQUIRED,
    GDPR,
    LOC,
    NOTICE_REQUIRED,
    PD,
    PROCESS_REQUIRED,
    RECEIPT_RECORD_REQUIRED,
    RECEIPT_REQUIRED,
    RECORD_REQUIRED,
    SPDX,
    STATUS_REQUIRED,
    XSD_DATETIME,
    expand,
    form_plugin_en,
    ids,
    keys_used,
    missing,
    nodes_by_id,
    of_type,
    values,
    verbal_phone_sv,
    web_form_fi,
)

STAFF = Actor(ActorType.STAFF, "liisa")


def _people(client: Any, container: Any) -> dict[str, str]:
    return {"fi": web_form_fi(client, container), "sv": verbal_phone_sv(client, container),
            "en": form_plugin_en(client, container)}


def _records(container: Any, public_id: str) -> dict[str, Any]:
    text = rights.export_contact(container.uow(), container.deps, public_id, STAFF, ip=None,
                                 fmt="jsonld")
    document: dict[str, Any] = json.loads(text)
    return document


def _receipt(container: Any, public_id: str) -> dict[str, Any]:
    with container.uow() as uow:
        contact = ledger.find_contact(uow.session, public_id)
        assert contact is not None
        held = rights.held_record(uow.session, contact)
    return receipts.consent_receipt(held, receipts.controller_of(container.deps.practice),
                                    created=container.clock.now())


def _notice_hashes(container: Any) -> dict[tuple[int, str], str]:
    with container.session_factory() as session:
        return {(n.version, n.language): hashlib.sha256(n.text.encode()).hexdigest()
                for n in session.query(Notice)}


def _check_record(flat: list[dict[str, Any]], record: dict[str, Any]) -> None:
    """Every field the #record profile requires, down to notices, statuses and the entity."""
    graph = nodes_by_id(flat)
    assert missing(record, RECORD_REQUIRED) == []
    assert ids(record, DCT + "conformsTo") == [receipts.RECORD_PROFILE]
    [process] = [graph[i] for i in ids(record, DPV + "hasProcess")]
    assert missing(process, PROCESS_REQUIRED) == []
    storage = [graph[i] for i in ids(process, DPV + "hasStorageCondition")]
    assert {t for s in storage for t in s["@type"]} == {DPV + "StorageLocation",
                                                         DPV + "StorageDuration"}
    for notice in (graph[i] for i in ids(record, DPV + "hasNotice")):
        assert DPV + "ConsentNotice" in notice["@type"]
        assert missing(notice, NOTICE_REQUIRED) == []
    statuses = [graph[i] for i in ids(record, DPV + "hasConsentStatus")]
    assert statuses
    for status in statuses:
        assert missing(status, STATUS_REQUIRED) == []
        assert status[DPV + "isIndicatedAtTime"][0]["@type"] == XSD_DATETIME
    [entity] = [graph[i] for i in ids(record, DPV + "hasEntity")]
    assert missing(entity, ENTITY_REQUIRED) == []
    assert DPV + "DataController" in entity["@type"]
    assert ids(record, DPV + "hasDataController") == [entity["@id"]]


def test_the_bundled_context_defines_exactly_the_terms_the_documents_use(
    client: Any, container: Any
) -> None:
    people = _people(client, container)
    used = set().union(*(keys_used(_records(container, p)) | keys_used(_receipt(container, p))
                         for p in people.values()))
    defined = {term for term in receipts.context() if ":" in term}
    assert used == defined


def test_the_document_loader_fetches_nothing() -> None:
    asked: list[str] = []

    def loader(url: str, options: Any = None) -> Any:
        asked.append(url)
        return receipts.refuse_remote_documents(url, options)

    with pytest.raises(receipts.RemoteDocumentRefused):
        receipts.refuse_remote_documents("https://w3id.org/dpv")
    with pytest.raises(jsonld.JsonLdError):
        jsonld.expand({"@context": "https://w3id.org/dpv", "dpv:x": "y"},
                      {"documentLoader": loader})
    assert asked == ["https://w3id.org/dpv"]


def test_each_persons_records_carry_every_field_the_record_profile_requires(
    client: Any, container: Any
) -> None:
    people = _people(client, container)
    hashes = _notice_hashes(container)
    channels = {"fi": {"email", "sms"}, "sv": {"sms"}, "en": {"email"}}
    for language, public_id in people.items():
        flat = expand(_records(container, public_id))
        records = of_type(flat, DPV + "ConsentRecord")
        assert len(records) == len(channels[language])
        for record in records:
            _check_record(flat, record)
            assert ids(record, DPV + "hasJurisdiction") == [LOC + "FI"]
            assert ids(record, DPV + "hasApplicableLaw") == [GDPR + "GDPR"]
            assert ids(record, DPV + "hasLegalBasis") == [GDPR + "A6-1-a"]
            assert values(record, DCT + "language") == [language]
        graph = nodes_by_id(flat)
        for notice in of_type(flat, DPV + "ConsentNotice"):
            [version] = values(notice, DCT + "hasVersion")
            [checksum] = [graph[i] for i in ids(notice, SPDX + "checksum")]
            assert ids(checksum, SPDX + "algorithm") == [SPDX + "checksumAlgorithm_sha256"]
            assert values(checksum, SPDX + "checksumValue") == [hashes[(int(version), language)]]
            assert notice[DCT + "description"][0]["@language"] == language


def test_purposes_personal_data_and_methods_follow_each_channel_and_way_of_asking(
    client: Any, container: Any
) -> None:
    people = _people(client, container)
    expected = {
        "fi": {"email": ["web form", "confirmation link mailed to the address"],
               "sms": ["web form", "confirmation link mailed to the address"]},
        "sv": {"sms": ["verbally, by phone"]},
        "en": {"email": ["form plugin on the practice's website (clinic-site)"]},
    }
    kinds = {"fi": [DPV + "ConsentRequested", DPV + "ConsentGiven"],
             "sv": [DPV + "ConsentGiven"], "en": [DPV + "ConsentGiven"]}
    for language, public_id in people.items():
        flat = expand(_records(container, public_id))
        graph = nodes_by_id(flat)
        for record in of_type(flat, DPV + "ConsentRecord"):
            [process] = [graph[i] for i in ids(record, DPV + "hasProcess")]
            [purpose] = [graph[i] for i in ids(process, DPV + "hasPurpose")]
            assert ids(purpose, "http://www.w3.org/2004/02/skos/core#broader") == \
                [DPV + "DirectMarketing"]
            data = ids(process, DPV + "hasPersonalData")
            channel = "email" if PD + "EmailAddress" in data else "sms"
            assert channel == "email" or PD + "TelephoneNumber" in data
            statuses = sorted((graph[i] for i in ids(record, DPV + "hasConsentStatus")),
                              key=lambda s: s[DPV + "isIndicatedAtTime"][0]["@value"])
            methods = [values(s, DPV + "hasIndicationMethod")[0] for s in statuses]
            assert methods == expected[language][channel]
            assert [s["@type"][0] for s in statuses] == kinds[language]
            subject = ids(record, DPV + "hasDataSubject")
            assert subject == [f"urn:uuid:{public_id}"]
            assert all(ids(s, DPV + "isIndicatedBy") == subject for s in statuses)


def test_a_withdrawal_is_a_status_change_in_the_history_and_the_state_now(
    client: Any, container: Any
) -> None:
    from service.domain import rights as use_cases

    public_id = form_plugin_en(client, container)
    container.clock.advance(days=3)
    use_cases.withdraw(container.uow(), container.deps, public_id, ["email"], STAFF, ip=None)
    flat = expand(_records(container, public_id))
    graph = nodes_by_id(flat)
    [record] = of_type(flat, DPV + "ConsentRecord")
    statuses = sorted((graph[i] for i in ids(record, DPV + "hasConsentStatus")),
                      key=lambda s: s[DPV + "isIndicatedAtTime"][0]["@value"])
    assert [s["@type"][0] for s in statuses] == [DPV + "ConsentGiven", DPV + "ConsentWithdrawn"]
    assert values(statuses[-1], DPV + "hasIndicationMethod") == [
        "by the practice's staff, on the person's request"]
    assert ids(statuses[-1], DPV + "isImplementedByEntity") == ids(record,
                                                                   DPV + "hasDataController")
    receipt = expand(_receipt(container, public_id))
    [copy] = of_type(receipt, DPV + "ConsentRecord")
    [now] = [nodes_by_id(receipt)[i] for i in ids(copy, DPV + "hasConsentStatus")]
    assert now["@type"] == [DPV + "ConsentWithdrawn"]


def test_each_persons_receipt_carries_every_field_the_minimal_receipt_profile_requires(
    client: Any, container: Any
) -> None:
    people = _people(client, container)
    for public_id in people.values():
        document = _receipt(container, public_id)
        flat = expand(document)
        graph = nodes_by_id(flat)
        [receipt] = of_type(flat, DPV + "ConsentReceipt")
        assert missing(receipt, RECEIPT_REQUIRED) == []
        assert ids(receipt, DCT + "conformsTo") == [receipts.RECEIPT_PROFILE]
        assert receipt[DCT + "created"][0] == {"@type": XSD_DATETIME,
                                               "@value": container.clock.now().isoformat()}
        full = {r["@id"] for r in of_type(expand(_records(container, public_id)),
                                          DPV + "ConsentRecord")}
        copies = [graph[i] for i in ids(receipt, DPV + "hasRecordOfActivity")]
        assert {c["@id"] for c in copies} == full, "each copy names the record it copies"
        for copy in copies:
            assert missing(copy, RECEIPT_RECORD_REQUIRED) == []
            [state] = [graph[i] for i in ids(copy, DPV + "hasConsentStatus")]
            assert missing(state, STATUS_REQUIRED) == []
            assert DPV + "ConsentGiven" in state["@type"]
        [publisher] = [graph[i] for i in ids(receipt, DCT + "publisher")]
        assert missing(publisher, ENTITY_REQUIRED) == []
        assert values(publisher, DPV + "hasName") == ["Kiropraktikko Testi"]


def test_with_a_privacy_notice_the_controller_is_reached_and_rights_are_used_through_it(
    settings: Any, clock: Any
) -> None:
    from tests.conftest import make_container

    notice = "https://klinikka.example.fi/tietosuoja"
    container = make_container(settings, clock, privacy_url=notice)
    try:
        controller = receipts.controller_of(container.deps.practice)
        held = {"contact": {"id": "ca38fc92-4ad6-46db-95dc-a8639b5e64d5", "language": "fi",
                            "name": None},
                "consent_events": [{
                    "id": 1, "occurred_at": "2026-11-20T09:00:00+00:00", "channel": "email",
                    "kind": "granted", "method": "import", "source": "import",
                    "actor_type": "system", "actor_id": "cli", "notice_version": None,
                    "notice_language": None, "notice_text": None, "notice_hash": None}]}
        flat = expand(receipts.consent_records(held, controller))
        graph = nodes_by_id(flat)
        entity = graph[controller.iri]
        [contact] = [graph[i] for i in ids(entity, "https://schema.org/contactPoint")]
        assert ids(contact, "https://schema.org/url") == [notice]
        [record] = of_type(flat, DPV + "ConsentRecord")
        rights_used = {t: ids(graph[i], DPV + "isExercisedAt")
                       for i in ids(record, DPV + "hasRight")
                       for t in graph[i]["@type"] if t != DPV + "DataSubjectRight"}
        assert rights_used[GDPR + "A7-3"] == [controller.withdraw_url]
        assert rights_used[GDPR + "A15"] == rights_used[GDPR + "A17"] == [notice]
        [status] = [graph[i] for i in ids(record, DPV + "hasConsentStatus")]
        assert values(status, DPV + "hasIndicationMethod") == [
            "import from the practice's earlier list"]
        assert ids(status, DPV + "isImplementedByEntity") == [controller.iri]
    finally:
        container.close()

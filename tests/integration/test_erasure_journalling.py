"""Every erasure is journalled outside the database before it is committed."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from service.domain import ledger, rights
from service.domain.dependencies import ErasureRecord
from service.domain.ledger import Actor
from service.domain.models import ActorType
from tests.register_support import subscribe

# Erasure deletes around the append-only triggers and makes its key with ON CONFLICT.
pytestmark = pytest.mark.both_databases

STAFF = Actor(ActorType.STAFF, "1:omistaja")


def test_an_erasure_is_journalled_by_id_and_keyed_hash_never_by_address(
    container: Any,
) -> None:
    public_id = subscribe(container, "Maija@Example.FI", name="Maija", phone="+358401234567")
    rights.erase_contact(container.uow(), container.deps, public_id, STAFF, ip=None)
    lines = container.settings.erasure_journal.read_text().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["contact_id"] == public_id
    with container.session_factory() as session:
        assert entry["address_hash"] == rights.address_hash(session, "maija@example.fi",
                                                            container.clock.now())
        assert entry["key_id"] == rights.erasure_key_id(session, container.clock.now())
    text = lines[0].lower()
    assert "maija" not in text and "358401234567" not in text


class BrokenJournal:
    """A journal on a full or read-only disk."""

    def record(self, erasure: ErasureRecord) -> None:
        raise OSError(28, "No space left on device")


def test_an_erasure_that_cannot_be_journalled_is_not_made(container: Any) -> None:
    public_id = subscribe(container, "maija@example.fi")
    deps = replace(container.deps, erasure_journal=BrokenJournal())
    with pytest.raises(OSError):
        rights.erase_contact(container.uow(), deps, public_id, STAFF, ip=None)
    with container.session_factory() as session:
        contact = ledger.find_contact(session, public_id)
        assert contact is not None and contact.erased_at is None
        assert contact.email == "maija@example.fi"

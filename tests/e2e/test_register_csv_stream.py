"""A newsletter tool downloads the whole register as one CSV, streamed batch by batch."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest

from service.domain.models import Contact, Subscription
from service.web import api
from tests.register_support import new_key

# Streaming in batches reads the backend's cursor while rows keep arriving.
pytestmark = pytest.mark.both_databases

# Values a spreadsheet would run as formulas, and what the CSV must hold instead.
RISKY_NAMES = ("=HYPERLINK(\"https://evil\",\"x\")", "+358 Äijälä", "-1+1", "@SUM(A1)",
               "\tTab", "Plain Name")


def _put_on_register(container: Any, count: int) -> list[tuple[str, str, str]]:
    """Subscribe count contacts in one go; return (public id, name, email) in id order."""
    now = container.clock.now()
    people = []
    with container.uow() as uow:
        contacts = []
        for i in range(count):
            name = f"{RISKY_NAMES[i % len(RISKY_NAMES)]} {i}"
            email = f"-list{i}@example.fi" if i % 250 == 0 else f"list{i}@example.fi"
            contacts.append(Contact(
                public_id=str(uuid.uuid4()), email=email, email_key=email, name=name,
                language="fi", soft_bounces=0, created_at=now, updated_at=now,
            ))
        uow.session.add_all(contacts)
        uow.session.flush()
        uow.session.add_all(
            Subscription(contact_id=c.id, channel="email", state="subscribed", since=now,
                         method="import")
            for c in contacts
        )
        people = [(c.public_id, c.name or "", c.email or "") for c in contacts]
        uow.commit()
    return people


def test_a_csv_longer_than_one_batch_comes_out_whole_in_order_and_safe_for_spreadsheets(
    client: Any, container: Any
) -> None:
    people = _put_on_register(container, 2 * api.CSV_BATCH + 7)
    answer = client.get("/api/v1/register?format=csv", buffered=False,
                        headers={"Authorization": f"Bearer {new_key(container, 'tool')}"})
    assert answer.status_code == 200
    assert answer.is_streamed
    chunks = list(answer.response)
    assert len(chunks) >= 3, "one piece per batch, not the whole register at once"
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode("utf-8"))))
    assert [r["contact_id"] for r in rows] == [p[0] for p in people]
    for row, (_, name, email) in zip(rows, people, strict=True):
        risky = name[0] in "=+-@\t"
        assert row["name"] == ("'" + name if risky else name)
        assert row["email"] == ("'" + email if email.startswith("-") else email)
        assert row["list_unsubscribe"] == f"<{row['unsubscribe_url']}>"
    assert rows[0]["name"] == "'=HYPERLINK(\"https://evil\",\"x\") 0"
    assert rows[-1]["contact_id"] == people[-1][0]

"""Three people who consented three ways, for the proof pack's tests."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path
from typing import Any

from service.domain import ledger
from service.domain.ledger import Actor
from service.domain.models import EventKind, Method
from tests.ledger_support import opt_in
from tests.register_support import subscribe
from tests.webhook_support import add_source, contact

CONFIRM_LINK = re.compile(r"https://consent\.example\.fi(/confirm/[A-Za-z0-9_.\-]+)")


def confirm_by_mail(client: Any, container: Any) -> None:
    """Send the queued confirmation and press its button."""
    container.worker().drain()
    [mail] = sorted(Path(container.settings.outbox_dir).glob("*.eml"))
    message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
    link = CONFIRM_LINK.search(message.get_body(preferencelist=("plain",)).get_content())
    assert link, "the confirmation carries a link"
    assert client.post(link.group(1)).status_code == 200


def three_people(client: Any, container: Any, clock: Any) -> dict[str, str]:
    """Consent three ways: the web form and its mail, at the desk, a plugin then one-click."""
    opt_in(client, "maija@example.fi", "203.0.113.5")
    clock.advance(minutes=5)
    confirm_by_mail(client, container)
    desk = subscribe(container, "asa@example.se", channels=("email", "sms"),
                     phone="+358401234567", language="sv")
    token = add_source(container, "site", "cf7", mapping={"consent": ["uutiskirje"]},
                       double_opt_in=False)
    client.post("/webhooks/forms/site", headers={"X-Consent-Secret": token}, json={
        "your-email": "pekka@example.fi", "uutiskirje": "1", "_remote_ip": "198.51.100.7"})
    clock.advance(hours=1)
    with container.uow() as uow:
        pekka = ledger.find_contact_by_email(uow.session, "pekka@example.fi")
        assert pekka is not None
        ledger.record(uow.session, pekka, "email", EventKind.WITHDRAWN, Method.ONE_CLICK,
                      Actor.person(), now=clock.now())
        uow.commit()
    container.seal_ledger()  # as the worker does within a second of each commit
    maija = contact(container, "maija@example.fi")
    pekka_row = contact(container, "pekka@example.fi")
    assert maija is not None and pekka_row is not None
    return {"maija": maija.public_id, "asa": desk, "pekka": pekka_row.public_id}

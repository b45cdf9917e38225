"""People who say they never agreed: the receipt's "I never agreed to this" and the unsubscribe
page's "I never signed up" both withdraw and flag the record, which staff see and clear."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from service.domain.models import Contact, Subscription
from service.web import create_app
from tests.conftest import make_container
from tests.register_support import subscribe, unsubscribe_path
from tests.staff_support import add_account, audit_actions, login, post_form

VERBAL = {"name": "Maija Meikäläinen", "email": "maija@example.fi", "language": "fi",
          "channels": ["email"], "method": "phone", "notice": "1"}


def flag_of(container: Any, public_id: str) -> str | None:
    with container.session_factory() as session:
        return session.scalars(select(Contact.flagged_reason)
                               .where(Contact.public_id == public_id)).one()


def states_of(container: Any, public_id: str) -> dict[str, str]:
    with container.session_factory() as session:
        contact = session.scalars(select(Contact).where(Contact.public_id == public_id)).one()
        return {s.channel: s.state for s in session.scalars(
            select(Subscription).where(Subscription.contact_id == contact.id))}


def test_receipt_over_smtp_leads_to_i_never_agreed_which_staff_see_and_clear(
    settings: Any, clock: Any, smtp_sink: Any
) -> None:
    container = make_container(settings, clock, smtp_url=smtp_sink.url,
                               mail_from="uutiskirje@klinikka.example.fi")
    try:
        app = create_app(container=container)
        app.config["TESTING"] = True
        desk = app.test_client()
        add_account(container, "liisa")
        assert login(desk, "liisa").status_code == 302
        recorded = post_form(desk, "/staff/consents/new", VERBAL)
        public_id = recorded.headers["Location"].rsplit("/", 1)[-1]
        container.worker().drain()
        (receipt,) = smtp_sink.wait_for(1)
        assert receipt["To"].endswith("<maija@example.fi>")
        body = str(receipt.get_body(preferencelist=("plain",)).get_content())
        link = re.search(r"https://consent\.example\.fi(/dispute/\S+)", body)
        assert link, body

        stranger = app.test_client()
        page = stranger.get(link.group(1))
        assert page.status_code == 200 and "m***@example.fi" in page.get_data(as_text=True)
        assert states_of(container, public_id) == {"email": "subscribed"}
        assert stranger.post(link.group(1)).status_code == 200
        assert states_of(container, public_id) == {"email": "unsubscribed"}
        assert flag_of(container, public_id) == "disputed_receipt"

        contact_page = desk.get(f"/staff/contacts/{public_id}").get_data(as_text=True)
        assert "ei ole antanut lupaa" in contact_page
        # The dispute in words, and as the person's own act: not the witness's (liisa).
        assert "&#34;en antanut lupaa&#34; -linkki" in contact_page
        assert "-linkki (liisa)" not in contact_page
        before = audit_actions(container)
        cleared = post_form(desk, f"/staff/contacts/{public_id}/unflag", {},
                            page=f"/staff/contacts/{public_id}")
        assert cleared.status_code == 302
        assert audit_actions(container)[len(before) + 1:] == ["contact.unflag"]
        assert flag_of(container, public_id) is None
        assert "ei ole antanut lupaa" not in desk.get(
            f"/staff/contacts/{public_id}").get_data(as_text=True)
        assert public_id not in desk.get("/staff/contacts").get_data(as_text=True)
    finally:
        container.close()


def test_i_never_signed_up_on_the_unsubscribe_page_flags_the_record_for_staff(
    client: Any, container: Any
) -> None:
    pid = subscribe(container, "pekka@example.fi", name="Pekka Virtanen")
    path = unsubscribe_path(container, pid)
    answer = client.post(path)
    assert 'value="never_signed_up"' in answer.get_data(as_text=True)
    thanks = client.post(path + "/reason", data={"reason": "never_signed_up"})
    assert thanks.status_code == 200
    assert flag_of(container, pid) == "disputed_unsubscribe"
    assert states_of(container, pid) == {"email": "unsubscribed"}

    desk = client.application.test_client()
    add_account(container, "liisa")
    login(desk, "liisa")
    listing = desk.get("/staff/contacts").get_data(as_text=True)
    assert "Tarkistettavat" in listing and pid in listing
    assert "ei ole antanut lupaa" in desk.get(f"/staff/contacts/{pid}").get_data(as_text=True)


def test_other_unsubscribe_reasons_flag_nothing(client: Any, container: Any) -> None:
    pid = subscribe(container, "pekka@example.fi")
    path = unsubscribe_path(container, pid)
    client.post(path)
    client.post(path + "/reason", data={"reason": "too_many"})
    assert flag_of(container, pid) is None

"""Verbal consent, its receipt and "I never agreed", and the rights of the person on the staff
pages: find, see, correct, withdraw, export, erase; every action audited exactly once."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from service.domain.models import (
    AuditEntry,
    ConsentEvent,
    Contact,
    ContactCorrection,
    ErasedAddress,
    Evidence,
    OutboxItem,
    Subscription,
)
from tests.staff_support import add_account, audit_actions, csrf_from, login, post_form

VERBAL = {"name": "Maija Meikäläinen", "email": "Maija@Example.fi", "phone": "040 123 4567",
          "language": "fi", "channels": ["email", "sms"], "method": "in_person", "notice": "1",
          "note": "asked at the desk"}


def signed_in(client: Any, container: Any, name: str = "liisa") -> None:
    add_account(container, name)
    assert login(client, name).status_code == 302


def record_verbal(client: Any, **changes: Any) -> str:
    """Record a verbal consent on the page and return the new contact's public id."""
    response = post_form(client, "/staff/consents/new", {**VERBAL, **changes})
    assert response.status_code == 302, response.get_data(as_text=True)
    return str(response.headers["Location"].rsplit("/", 1)[-1])


def delivered(container: Any) -> list[email.message.EmailMessage]:
    container.worker().drain()
    files = sorted(Path(container.settings.outbox_dir).glob("*.eml"))
    return [email.message_from_bytes(f.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for f in files]


def text_of(message: Any) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())


def count(container: Any, model: Any, *where: Any) -> int:
    with container.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_verbal_consent_page_shows_the_wording_to_read_aloud(client: Any, container: Any) -> None:
    signed_in(client, container)
    page = client.get("/staff/consents/new").get_data(as_text=True)
    with container.session_factory() as session:
        from service.domain.ledger import NoticeRef, notice_text

        wording = notice_text(session, NoticeRef(1, "fi"))
    assert "Lue tämä teksti ääneen" in page
    assert wording.split("\n")[0][:40] in page


def wording(container: Any, language: str) -> str:
    with container.session_factory() as session:
        from service.domain.ledger import NoticeRef, notice_text

        return notice_text(session, NoticeRef(1, language))


def test_verbal_consent_form_asks_the_language_first_and_shows_only_that_wording(
    client: Any, container: Any
) -> None:
    signed_in(client, container)
    page = client.get("/staff/consents/new").get_data(as_text=True)
    # The practice's default language until the person's is chosen; nothing folded away.
    assert page.index('id="language"') < page.index('id="wording"') < page.index('id="name"')
    assert f'<p class="notice-text" lang="fi">{wording(container, "fi")}' in page
    assert wording(container, "sv") not in page and "<details" not in page


def test_show_wording_redraws_the_form_in_swedish_keeping_what_was_typed_recording_nothing(
    client: Any, container: Any
) -> None:
    signed_in(client, container)
    response = post_form(client, "/staff/consents/new",
                         {**VERBAL, "language": "sv", "channels": ["sms"],
                          "show_wording": "1"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'<p class="notice-text" lang="sv">{wording(container, "sv")}' in page
    assert wording(container, "fi") not in page
    assert "Versio 1 · ruotsi" in page
    assert '<option value="sv" selected>' in page
    assert 'value="Maija Meikäläinen"' in page and 'value="040 123 4567"' in page
    assert 'value="sms" checked' in page and 'value="email" checked' not in page
    assert "asked at the desk" in page
    assert count(container, ConsentEvent) == 0


def test_verbal_consent_is_granted_with_the_staff_account_as_witness(client: Any,
                                                                    container: Any) -> None:
    signed_in(client, container)
    public_id = record_verbal(client)
    page = client.get(f"/staff/contacts/{public_id}").get_data(as_text=True)
    assert "Lupa kirjattu." in page and "Maija Meikäläinen" in page
    with container.session_factory() as session:
        subs = {s.channel: s for s in session.scalars(select(Subscription))}
        events = list(session.scalars(select(ConsentEvent)))
        proof = session.scalars(select(Evidence)).first()
    assert {c: s.state for c, s in subs.items()} == {"email": "subscribed", "sms": "subscribed"}
    assert {s.witness for s in subs.values()} == {"liisa"}
    assert {(e.kind, e.method, e.actor_type, e.notice_version) for e in events} == {
        ("granted", "verbal_in_person", "staff", 1)}
    assert proof is not None and proof.note == "asked at the desk"


def test_verbal_consent_form_names_every_field_at_fault(client: Any, container: Any) -> None:
    signed_in(client, container)
    response = post_form(client, "/staff/consents/new",
                         {"email": "not an address", "channels": ["sms"], "method": "shout"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    # Staff pages are in Finnish by default: so are the fields at fault and what is wrong.
    assert "<strong>Sähköposti</strong>: ei ole kelvollinen sähköpostiosoite" in page
    assert "<strong>Puhelin</strong>: tarvitaan tekstiviestejä varten" in page
    assert "<strong>Miten lupa annettiin</strong>:" in page
    assert count(container, ConsentEvent) == 0


def test_receipt_tells_the_date_and_practice_and_offers_i_never_agreed(
    client: Any, container: Any
) -> None:
    signed_in(client, container)
    record_verbal(client)
    (receipt,) = delivered(container)
    body = text_of(receipt)
    assert receipt["To"].endswith("<Maija@Example.fi>")
    assert "20. marraskuuta 2026" in body and "Kiropraktikko Testi" in body
    assert receipt["List-Unsubscribe"].startswith("<https://consent.example.fi/unsubscribe/")
    assert "/dispute/" in body


def test_i_never_agreed_withdraws_and_flags_the_record_for_staff(client: Any,
                                                                 container: Any) -> None:
    signed_in(client, container)
    public_id = record_verbal(client)
    (receipt,) = delivered(container)
    link = re.search(r"https://consent\.example\.fi(/dispute/\S+)", text_of(receipt))
    assert link
    stranger = client.application.test_client()
    page = stranger.get(link.group(1))
    assert page.status_code == 200 and "M***@Example.fi" in page.get_data(as_text=True)
    assert count(container, ConsentEvent, ConsentEvent.kind == "withdrawn") == 0
    done = stranger.post(link.group(1))
    assert done.status_code == 200
    with container.session_factory() as session:
        states = set(session.scalars(select(Subscription.state)))
        contact = session.scalars(select(Contact)).one()
    assert states == {"unsubscribed"} and contact.flagged_reason == "disputed_receipt"
    listing = client.get("/staff/contacts").get_data(as_text=True)
    assert "Tarkistettavat" in listing and public_id in listing
    assert "ei ole antanut lupaa" in client.get(f"/staff/contacts/{public_id}").get_data(
        as_text=True)


def test_a_forged_dispute_link_changes_nothing(client: Any, container: Any) -> None:
    signed_in(client, container)
    record_verbal(client)
    assert client.post("/dispute/forged-token").status_code == 404
    assert count(container, ConsentEvent, ConsentEvent.kind == "withdrawn") == 0


def test_search_finds_by_email_name_and_phone(client: Any, container: Any) -> None:
    signed_in(client, container)
    public_id = record_verbal(client)
    for query in ("maija@example", "Meikäläinen", "040 123 4567", "+358401234567"):
        page = client.get("/staff/contacts", query_string={"q": query}).get_data(as_text=True)
        assert public_id in page, query
    assert "Ei osumia" in client.get("/staff/contacts?q=nobody").get_data(as_text=True)
    with container.session_factory() as session:
        logged = session.scalars(select(AuditEntry.detail_json)
                                 .where(AuditEntry.action == "contact.search")).all()
    assert json.loads(logged[0] or "{}") == {"results": 1, "contacts": [public_id]}
    assert all("maija" not in (d or "").lower() for d in logged)


def test_correction_keeps_the_old_value_and_logs_which_fields_changed(
    client: Any, container: Any
) -> None:
    signed_in(client, container)
    public_id = record_verbal(client)
    response = post_form(client, f"/staff/contacts/{public_id}/correct",
                         {"name": "Maija Virtanen", "email": "maija.virtanen@example.fi",
                          "phone": "040 123 4567", "language": "sv"},
                         page=f"/staff/contacts/{public_id}")
    assert response.status_code == 302
    page = client.get(f"/staff/contacts/{public_id}").get_data(as_text=True)
    assert "Maija Virtanen" in page and "maija.virtanen@example.fi" in page
    with container.session_factory() as session:
        changes = {(c.field, c.old_value, c.new_value)
                   for c in session.scalars(select(ContactCorrection))}
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "contact.correct")
                                ).one()
    assert changes == {("name", "Maija Meikäläinen", "Maija Virtanen"),
                       ("email", "Maija@Example.fi", "maija.virtanen@example.fi"),
                       ("language", "fi", "sv")}
    assert json.loads(entry.detail_json or "{}") == {"fields": ["email", "name", "language"]}


def test_staff_withdraws_on_the_persons_request(client: Any, container: Any) -> None:
    signed_in(client, container)
    public_id = record_verbal(client)
    response = post_form(client, f"/staff/contacts/{public_id}/withdraw",
                         {"channels": ["sms"], "note": "asked by phone"},
                         page=f"/staff/contacts/{public_id}")
    assert response.status_code == 302
    with container.session_factory() as session:
        states = {s.channel: s.state for s in session.scalars(select(Subscription))}
        last = session.scalars(select(ConsentEvent).order_by(ConsentEvent.id.desc())).first()
    assert states == {"email": "subscribed", "sms": "unsubscribed"}
    assert last is not None and last.method == "staff_on_request" and last.actor_type == "staff"


def test_withdrawal_form_offers_only_consents_in_force_or_pending_with_none_ticked(
    client: Any, container: Any
) -> None:
    signed_in(client, container)
    public_id = record_verbal(client)
    page = client.get(f"/staff/contacts/{public_id}").get_data(as_text=True)
    assert '<input type="checkbox" name="channels" value="email">' in page
    assert '<input type="checkbox" name="channels" value="sms">' in page
    post_form(client, f"/staff/contacts/{public_id}/withdraw", {"channels": ["sms"]},
              page=f"/staff/contacts/{public_id}")
    page = client.get(f"/staff/contacts/{public_id}").get_data(as_text=True)
    assert '<input type="checkbox" name="channels" value="email">' in page
    assert 'name="channels" value="sms"' not in page
    post_form(client, f"/staff/contacts/{public_id}/withdraw", {"channels": ["email"]},
              page=f"/staff/contacts/{public_id}")
    page = client.get(f"/staff/contacts/{public_id}").get_data(as_text=True)
    assert "Henkilöllä ei ole voimassa olevia eikä vahvistusta odottavia lupia." in page
    assert 'name="channels"' not in page


def test_withdrawing_an_already_withdrawn_channel_says_nothing_changed_and_records_nothing(
    client: Any, container: Any
) -> None:
    signed_in(client, container)
    public_id = record_verbal(client)
    contact_page = f"/staff/contacts/{public_id}"
    post_form(client, f"{contact_page}/withdraw", {"channels": ["sms"]}, page=contact_page)
    events_before, audit_before = count(container, ConsentEvent), audit_actions(container)
    # A form from before the first withdrawal (another tab) still offers sms.
    response = post_form(client, f"{contact_page}/withdraw", {"channels": ["sms"]},
                         page="/staff/consents/new")
    assert response.status_code == 302
    page = client.get(contact_page).get_data(as_text=True)
    assert "Mitään ei muutettu: valitut luvat oli jo peruttu." in page
    assert "Lupa peruttu." not in page
    assert count(container, ConsentEvent) == events_before
    assert audit_actions(container)[len(audit_before):] == ["contact.view"]


def test_a_contact_without_a_name_opens_by_its_address_in_the_search(
    client: Any, container: Any
) -> None:
    signed_in(client, container)
    public_id = record_verbal(client, name="", phone="", channels=["email"])
    page = client.post("/staff/contacts", data={
        "q": "maija@", "csrf_token": csrf_from(client.get("/staff/contacts").get_data(
            as_text=True))}).get_data(as_text=True)
    assert (f'<a class="person" href="/staff/contacts/{public_id}">Maija@Example.fi '
            "(ei nimeä)</a>") in page


def test_export_holds_contact_subscriptions_events_with_notice_texts_and_audit(
    client: Any, container: Any
) -> None:
    signed_in(client, container)
    public_id = record_verbal(client)
    response = client.get(f"/staff/contacts/{public_id}/export.json")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data(as_text=True))
    assert data["contact"]["email"] == "Maija@Example.fi"
    assert {s["channel"] for s in data["subscriptions"]} == {"email", "sms"}
    assert all(e["notice_text"] and e["evidence"]["note"] == "asked at the desk"
               for e in data["consent_events"])
    assert {"consent.verbal", "contact.export"} <= {a["action"] for a in data["audit_entries"]}
    # The CSV is for people: Finnish words, and a byte order mark so Excel reads ä and ö.
    text = client.get(f"/staff/contacts/{public_id}/export.csv").get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[0] == ["Osio", "Rivi", "Kenttä", "Arvo"]
    assert ["Yhteystiedot", "", "Sähköposti", "Maija@Example.fi"] in rows
    assert any(r[0] == "Suostumustapahtumat" and r[2] == "Suostumusteksti" and r[3]
               for r in rows)


def test_every_audited_staff_action_leaves_exactly_one_audit_row(client: Any,
                                                                 container: Any) -> None:
    signed_in(client, container)
    public_id = record_verbal(client)
    steps = [
        (lambda: client.get(f"/staff/contacts/{public_id}"), "contact.view"),
        (lambda: client.get("/staff/contacts?q=maija"), "contact.search"),
        (lambda: post_form(client, f"/staff/contacts/{public_id}/correct",
                           {"name": "M. M.", "email": "Maija@Example.fi", "phone": "",
                            "language": "fi"}, page="/staff/consents/new"), "contact.correct"),
        (lambda: post_form(client, f"/staff/contacts/{public_id}/withdraw",
                           {"channels": ["email"]}, page="/staff/consents/new"),
         "contact.withdraw"),
        (lambda: client.get(f"/staff/contacts/{public_id}/export.json"), "contact.export"),
        (lambda: client.get(f"/staff/contacts/{public_id}/export.csv"), "contact.export"),
        (lambda: post_form(client, f"/staff/contacts/{public_id}/erase", {"confirm": "yes"},
                           page="/staff/consents/new"), "contact.erase"),
    ]
    for step, action in steps:
        before = audit_actions(container)
        response = step()
        assert response.status_code in (200, 302), action
        after = audit_actions(container)
        assert after[len(before):] == [action], action


def test_erasure_needs_the_confirmation_box(client: Any, container: Any) -> None:
    signed_in(client, container)
    public_id = record_verbal(client)
    page = client.get(f"/staff/contacts/{public_id}/erase").get_data(as_text=True)
    assert "Tätä ei voi perua" in page
    response = post_form(client, f"/staff/contacts/{public_id}/erase", {},
                         page=f"/staff/contacts/{public_id}/erase")
    assert response.status_code == 422
    assert count(container, Contact, Contact.erased_at.is_not(None)) == 0


def test_after_erasure_nothing_searchable_remains_and_others_are_untouched(
    client: Any, container: Any
) -> None:
    signed_in(client, container)
    erased = record_verbal(client)
    other = record_verbal(client, name="Pekka Toinen", email="pekka@example.fi",
                          phone="050 765 4321")
    other_before = json.loads(client.get(f"/staff/contacts/{other}/export.json")
                              .get_data(as_text=True))
    delivered(container)
    assert len(list(Path(container.settings.outbox_dir).glob("*.eml"))) == 2
    events_before = count(container, ConsentEvent)
    response = post_form(client, f"/staff/contacts/{erased}/erase", {"confirm": "yes"},
                         page=f"/staff/contacts/{erased}/erase")
    assert response.status_code == 200 and "poistettu" in response.get_data(as_text=True)

    for query in ("maija", "Meikäläinen", "040 123 4567", "example.fi"):
        page = client.get("/staff/contacts", query_string={"q": query}).get_data(as_text=True)
        assert erased not in page and "Maija" not in page, query
    assert client.get(f"/staff/contacts/{erased}").status_code == 404
    with container.session_factory() as session:
        tomb = session.scalars(select(Contact).where(Contact.public_id == erased)).one()
        assert (tomb.email, tomb.email_key, tomb.name, tomb.phone) == (None, None, None, None)
        assert tomb.erased_at is not None
        assert session.scalar(select(func.count()).select_from(Evidence)
                              .where(Evidence.contact_id == tomb.id)) == 0
        assert session.scalar(select(func.count()).select_from(OutboxItem)
                              .where(OutboxItem.contact_id == tomb.id)) == 0
        assert session.scalar(select(func.count()).select_from(ErasedAddress)) == 1
        dumped = " ".join(str(v) for row in session.execute(select(AuditEntry)).all()
                          for v in row[0].__dict__.values())
    assert "Maija" not in dumped and "maija@" not in dumped.lower()
    # The ledger only grew: the consents were withdrawn, nothing was rewritten.
    assert count(container, ConsentEvent) == events_before + 2
    eml = [p.read_text(errors="ignore") for p in Path(container.settings.outbox_dir)
           .glob("*.eml")]
    assert len(eml) == 1 and "pekka@example.fi" in eml[0]
    other_after = json.loads(client.get(f"/staff/contacts/{other}/export.json")
                             .get_data(as_text=True))
    assert other_after["contact"] == other_before["contact"]
    assert other_after["consent_events"] == other_before["consent_events"]
    assert other_after["subscriptions"] == other_before["subscriptions"]



def test_erasure_queues_a_mirror_pass_that_removes_the_persons_row(client: Any, container: Any,
                                                                   clock: Any) -> None:
    signed_in(client, container)
    erased = record_verbal(client)
    other = record_verbal(client, name="Pekka", email="pekka@example.fi", phone="",
                          channels=["email"])
    clock.advance(seconds=2)
    container.worker().drain()
    post_form(client, f"/staff/contacts/{erased}/erase", {"confirm": "yes"},
              page=f"/staff/contacts/{erased}/erase")
    assert count(container, OutboxItem, OutboxItem.kind == "mirror.pass",
                 OutboxItem.status == "pending") == 1
    mirror = getattr(container, "mirror", None)
    if mirror is None or not hasattr(mirror, "read"):
        return  # the local-file mirror is not wired into this build: the queued pass is enough
    clock.advance(seconds=2)
    container.worker().drain()
    rows = [list(row) for row in mirror.read()]
    assert [row[0] for row in rows[1:]] == [other]
    assert "Maija" not in str(rows)

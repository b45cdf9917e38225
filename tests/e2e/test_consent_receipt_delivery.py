"""The person's consent receipt goes with the welcome and verbal-consent receipt mails, can be
downloaded from the unsubscribe page, and staff export the full records as JSON-LD."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from service.domain import letters, receipts
from service.domain.models import OutboxItem
from tests.receipt_support import (
    DPV,
    RECEIPT_REQUIRED,
    expand,
    form_plugin_en,
    ids,
    mails,
    missing,
    nodes_by_id,
    of_type,
    receipt_of,
    values,
    verbal_phone_sv,
    web_form_fi,
)
from tests.register_support import new_key, unsubscribe_path
from tests.staff_support import add_account, login, post_form

VERBAL = {"name": "Maija Meikäläinen", "email": "Maija@Example.fi", "language": "fi",
          "channels": ["email"], "method": "in_person", "notice": "1"}


def _given_by(document: dict[str, Any]) -> list[str]:
    """Return how the consent now in force was given, per record of a receipt."""
    flat = expand(document)
    graph = nodes_by_id(flat)
    [receipt] = of_type(flat, DPV + "ConsentReceipt")
    assert missing(receipt, RECEIPT_REQUIRED) == []
    states = [graph[i] for record in of_type(flat, DPV + "ConsentRecord")
              for i in ids(record, DPV + "hasConsentStatus")]
    return [values(state, DPV + "hasIndicationMethod")[0] for state in states]


def test_the_welcome_mail_carries_the_receipt_of_the_confirmed_opt_in(
    client: Any, container: Any
) -> None:
    web_form_fi(client, container)
    [welcome] = [m for m in mails(container) if "Tervetuloa" in m["Subject"]]
    assert welcome.get_content_type() == "multipart/mixed"
    assert welcome["Content-Language"] == "fi"
    document = receipt_of(welcome)
    assert document["dct:conformsTo"] == receipts.RECEIPT_PROFILE
    assert _given_by(document) == ["confirmation link mailed to the address"] * 2


def test_a_single_opt_in_through_a_form_plugin_is_welcomed_with_its_receipt(
    client: Any, container: Any
) -> None:
    form_plugin_en(client, container)
    [welcome] = mails(container)
    assert welcome["Content-Language"] == "en"
    assert _given_by(receipt_of(welcome)) == [
        "form plugin on the practice's website (clinic-site)"]


def test_the_receipt_is_rendered_once_so_every_attempt_sends_the_same_message(
    client: Any, container: Any
) -> None:
    form_plugin_en(client, container)
    with container.session_factory() as session:
        [item] = session.scalars(select(OutboxItem).where(OutboxItem.kind == "mail"))
        payload = json.loads(item.payload_json)
    assert receipts.FILENAME in payload["raw"]
    first = letters.message_bytes(container.deps, payload, date=container.clock.now())
    container.clock.advance(hours=2)
    assert letters.message_bytes(container.deps, payload,
                                 date=container.clock.now() + timedelta(days=1)) == first


def test_the_verbal_consent_receipt_mail_carries_the_receipt(client: Any, container: Any) -> None:
    add_account(container, "liisa")
    assert login(client, "liisa").status_code == 302
    response = post_form(client, "/staff/consents/new", VERBAL)
    assert response.status_code == 302
    [receipt_mail] = mails(container)
    assert receipt_mail["Subject"] == "Vahvistus markkinointiluvasta – Kiropraktikko Testi"
    assert _given_by(receipt_of(receipt_mail)) == ["verbally, in person"]


def test_the_unsubscribe_page_offers_the_receipt_and_its_link_downloads_it(
    client: Any, container: Any
) -> None:
    public_id = verbal_phone_sv(client, container)
    path = unsubscribe_path(container, public_id, "sms")
    page = client.get(path).get_data(as_text=True)
    assert "Ladda ner ditt samtyckeskvitto" in page
    assert f'href="{path}/receipt.jsonld"' in page
    download = client.get(f"{path}/receipt.jsonld")
    assert download.status_code == 200
    assert download.mimetype == receipts.MEDIA_TYPE
    assert download.headers["Content-Disposition"] == \
        f'attachment; filename="{receipts.FILENAME}"'
    assert download.headers["Cache-Control"] == "no-store"
    document = json.loads(download.get_data(as_text=True))
    assert document["dct:audience"] == f"urn:uuid:{public_id}"
    assert _given_by(document) == ["verbally, by phone"]


def test_a_receipt_link_with_a_bad_token_is_404_and_tells_nothing(
    client: Any, container: Any
) -> None:
    public_id = verbal_phone_sv(client, container)
    path = unsubscribe_path(container, public_id, "sms")
    for bad in (f"{path}x/receipt.jsonld", "/unsubscribe/not-a-token/receipt.jsonld"):
        answer = client.get(bad)
        assert answer.status_code == 404
        assert "samtyck" not in answer.get_data(as_text=True).lower()
        assert answer.mimetype == "text/html"


def test_staff_export_the_full_records_as_json_ld_on_the_page_and_through_the_api(
    client: Any, container: Any
) -> None:
    public_id = web_form_fi(client, container)
    add_account(container, "liisa")
    assert login(client, "liisa").status_code == 302
    page = client.get(f"/staff/contacts/{public_id}").get_data(as_text=True)
    assert f"/staff/contacts/{public_id}/export.jsonld" in page
    exported = client.get(f"/staff/contacts/{public_id}/export.jsonld")
    assert exported.status_code == 200 and exported.mimetype == receipts.MEDIA_TYPE
    assert exported.headers["Content-Disposition"] == \
        f'attachment; filename="contact-{public_id}.jsonld"'
    records = of_type(expand(json.loads(exported.get_data(as_text=True))),
                      DPV + "ConsentRecord")
    assert len(records) == 2

    key = new_key(container, "crm", "staff")
    answer = client.get(f"/api/v1/contacts/{public_id}/export?format=jsonld",
                        headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200 and answer.mimetype == receipts.MEDIA_TYPE
    assert answer.get_data() == exported.get_data()
    unknown = client.get(f"/api/v1/contacts/{public_id}/export?format=xml",
                         headers={"Authorization": f"Bearer {key}"})
    assert unknown.status_code == 422
    assert "jsonld" in unknown.get_data(as_text=True)

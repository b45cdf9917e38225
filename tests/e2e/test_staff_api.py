"""The staff API: verbal consent from another system and finding a person, by staff key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from service.domain import apikeys
from service.domain.models import ConsentEvent, Subscription
from tests.staff_support import audit_actions


def key(container: Any, role: str = "staff", name: str = "reception") -> dict[str, str]:
    issued = apikeys.create_key(container.uow(), name, role, now=container.clock.now())
    return {"Authorization": f"Bearer {issued.secret}"}


CONSENT = {"email": "maija@example.fi", "name": "Maija", "language": "sv",
           "channels": ["email"], "method": "phone", "notice": 1, "note": "called in"}


def test_api_records_verbal_consent_and_sends_the_receipt(client: Any, container: Any) -> None:
    response = client.post("/api/v1/consents", json=CONSENT, headers=key(container))
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "subscribed" and body["channels"] == ["email"]
    assert body["notice"] == 1 and body["receipt_sent"] is True
    with container.session_factory() as session:
        event = session.scalars(select(ConsentEvent)).one()
        sub = session.scalars(select(Subscription)).one()
    assert (event.method, event.actor_type, event.source) == ("verbal_phone", "api_key", "api")
    assert sub.witness == "api key reception"
    container.worker().drain()
    (eml,) = list(container.settings.outbox_dir.glob("*.eml"))
    assert "samtycke" in eml.read_text()


def test_api_consent_names_every_field_at_fault(client: Any, container: Any) -> None:
    response = client.post("/api/v1/consents", json={"channels": ["sms"], "method": "x",
                                                     "notice": "one"}, headers=key(container))
    assert response.status_code == 422
    assert {"email", "phone", "method", "notice"} <= set(response.get_json()["fields"])


def test_api_consent_needs_a_staff_key(client: Any, container: Any) -> None:
    assert client.post("/api/v1/consents", json=CONSENT).status_code == 401
    reader = key(container, "reader", "sheet")
    assert client.post("/api/v1/consents", json=CONSENT, headers=reader).status_code == 403
    assert audit_actions(container).count("api.denied") == 2


def test_api_finds_a_contact_by_email_and_shows_everything_held(client: Any,
                                                                container: Any) -> None:
    headers = key(container)
    public_id = client.post("/api/v1/consents", json=CONSENT, headers=headers).get_json()[
        "contact_id"]
    found = client.get("/api/v1/contacts?email=MAIJA@example.fi", headers=headers)
    assert found.status_code == 200
    assert found.get_json()["id"] == public_id
    assert found.get_json()["subscriptions"] == {"email": "subscribed"}
    assert client.get("/api/v1/contacts?email=nobody@example.fi",
                      headers=headers).status_code == 404
    record = client.get(f"/api/v1/contacts/{public_id}", headers=headers).get_json()
    assert record["contact"]["email"] == "maija@example.fi"
    export = client.get(f"/api/v1/contacts/{public_id}/export?format=csv", headers=headers)
    assert export.status_code == 200 and export.mimetype == "text/csv"


def test_each_staff_api_call_leaves_exactly_one_audit_row(client: Any, container: Any) -> None:
    headers = key(container)
    calls = [
        (lambda: client.post("/api/v1/consents", json=CONSENT, headers=headers),
         "consent.verbal"),
        (lambda: client.get("/api/v1/contacts?email=maija@example.fi", headers=headers),
         "contact.lookup"),
    ]
    for call, action in calls:
        before = audit_actions(container)
        assert call().status_code in (200, 201)
        assert audit_actions(container)[len(before):] == [action]
    public_id = client.get("/api/v1/contacts?email=maija@example.fi",
                           headers=headers).get_json()["id"]
    for path, action in ((f"/api/v1/contacts/{public_id}", "contact.view"),
                         (f"/api/v1/contacts/{public_id}/export", "contact.export")):
        before = audit_actions(container)
        assert client.get(path, headers=headers).status_code == 200
        assert audit_actions(container)[len(before):] == [action]


def test_openapi_describes_the_staff_api(client: Any) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/api/v1/consents", "/api/v1/contacts", "/api/v1/contacts/{id}",
            "/api/v1/contacts/{id}/export"} <= set(paths)
    method = paths["/api/v1/consents"]["post"]["requestBody"]["content"]["application/json"]
    assert method["schema"]["properties"]["method"]["enum"] == ["in_person", "phone"]

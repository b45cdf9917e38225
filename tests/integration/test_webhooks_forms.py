"""Form plugins' webhooks over real HTTP: each plugin's shape records the right consent."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import pytest
import requests

from service.domain.models import Method
from tests.webhook_support import (
    add_source,
    contact,
    count_contacts,
    events,
    evidence_of,
    queued_mails,
    states,
)

CF7 = {"your-name": "Maija Meikäläinen", "your-email": "maija@example.fi", "uutiskirje": "1"}


def _post(server: Any, path: str, **kwargs: Any) -> requests.Response:
    return requests.post(server.url + path, timeout=10, **kwargs)


def test_cf7_delivery_with_the_secret_header_records_a_pending_opt_in(
    live_server: Any, container: Any
) -> None:
    token = add_source(container, "site", "cf7", mapping={"consent": ["uutiskirje"]})
    answer = _post(live_server, "/webhooks/forms/site", json=CF7,
                   headers={"X-Consent-Secret": token})
    assert answer.status_code == 200
    assert answer.json() == {"status": "pending"}
    assert states(container, "maija@example.fi") == {"email": "pending"}
    person = contact(container, "maija@example.fi")
    assert person is not None and person.name == "Maija Meikäläinen"
    [event] = events(container)
    assert (event.kind, event.method, event.source) == ("requested", Method.FORM_WEBHOOK, "site")
    proof = evidence_of(container, event.id)
    assert proof is not None and proof.source_ip == "127.0.0.1"
    assert queued_mails(container) == 1  # the confirmation email


@pytest.mark.parametrize("headers", [{}, {"X-Consent-Secret": "wrong"},
                                     {"Authorization": "Bearer wrong"}])
def test_wrong_or_missing_secret_gets_401_and_records_nothing(
    live_server: Any, container: Any, headers: dict[str, str]
) -> None:
    add_source(container, "site", "cf7", mapping={"consent": ["uutiskirje"]})
    answer = _post(live_server, "/webhooks/forms/site", json=CF7, headers=headers)
    assert answer.status_code == 401
    assert count_contacts(container) == 0
    assert _post(live_server, "/webhooks/forms/nosuch", json=CF7).status_code == 401


def test_unticked_box_records_nothing_and_still_answers_success(
    live_server: Any, container: Any, caplog: pytest.LogCaptureFixture
) -> None:
    token = add_source(container, "site", "cf7", mapping={"consent": ["uutiskirje"]})
    caplog.set_level(logging.INFO, logger="consent.webhooks")
    answer = _post(live_server, "/webhooks/forms/site", json={**CF7, "uutiskirje": ""},
                   headers={"X-Consent-Secret": token})
    assert answer.status_code == 200
    assert answer.json() == {"status": "ignored", "reason": "consent_not_given"}
    assert count_contacts(container) == 0
    assert "not ticked" in caplog.text


@pytest.mark.both_databases
def test_redelivered_submission_records_nothing_new(live_server: Any, container: Any) -> None:
    token = add_source(container, "site", "cf7", mapping={"consent": ["uutiskirje"]})
    body = json.dumps(CF7).encode()
    headers = {"X-Consent-Secret": token, "Content-Type": "application/json"}
    first = _post(live_server, "/webhooks/forms/site", data=body, headers=headers)
    again = _post(live_server, "/webhooks/forms/site", data=body, headers=headers)
    assert first.json()["status"] == "pending"
    assert again.status_code == 200 and again.json() == {"status": "duplicate"}
    assert len(events(container)) == 1
    assert queued_mails(container) == 1


def _wpforms_signature(secret: str, timestamp: int, payload: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + payload, hashlib.sha256)
    return f"t={timestamp},v={digest.hexdigest()}"


def test_wpforms_form_post_is_verified_by_its_signature_and_splits_joined_values(
    live_server: Any, container: Any
) -> None:
    add_source(container, "wp", "wpforms", signing_secret="wpforms-secret-123",
               double_opt_in=False)
    fields = {"email": "pekka@example.fi", "name": "Pekka", "phone": "040 123 4567",
              "channels": "Sähköposti||Tekstiviesti (SMS)", "consent": "Kyllä, haluan"}
    now = int(container.clock.now().timestamp())
    from webhooks.forms import php_json

    signature = _wpforms_signature("wpforms-secret-123", now, php_json(fields).encode())
    bad = _post(live_server, "/webhooks/forms/wp", data=fields,
                headers={"X-WPForms-Webhook-Signature": signature.replace("v=", "v=0")})
    assert bad.status_code == 401
    assert count_contacts(container) == 0
    answer = _post(live_server, "/webhooks/forms/wp", data=fields,
                   headers={"X-WPForms-Webhook-Signature": signature})
    assert answer.status_code == 200 and answer.json() == {"status": "subscribed"}
    assert states(container, "pekka@example.fi") == {"email": "subscribed", "sms": "subscribed"}
    person = contact(container, "pekka@example.fi")
    assert person is not None and person.phone == "+358401234567"


def test_wpforms_json_delivery_is_signed_over_its_raw_bytes(
    live_server: Any, container: Any
) -> None:
    add_source(container, "wp", "wpforms", signing_secret="wpforms-secret-123")
    body = json.dumps({"email": "liisa@example.fi", "consent": "1"}).encode()
    now = int(container.clock.now().timestamp())
    answer = _post(live_server, "/webhooks/forms/wp", data=body, headers={
        "Content-Type": "application/json",
        "X-WPForms-Webhook-Signature": _wpforms_signature("wpforms-secret-123", now, body)})
    assert answer.json() == {"status": "pending"}


def test_gravity_forms_entry_by_field_ids_keeps_both_visitor_and_server_ip(
    live_server: Any, container: Any
) -> None:
    token = add_source(container, "gf", "gravityforms", double_opt_in=False, notice=1,
                       mapping={"email": ["2"], "name": ["1.3+1.6"], "consent": ["3.1"]})
    entry = {"id": "42", "form_id": "3", "date_created": "2026-11-20 09:00:00",
             "1.3": "Maija", "1.6": "Meikäläinen", "2": "maija@example.fi", "3.1": "1",
             "ip": "203.0.113.5", "source_url": "https://klinikka.fi/uutiskirje",
             "user_agent": "Mozilla/5.0 (Windows NT 10.0)"}
    answer = _post(live_server, "/webhooks/forms/gf", json=entry,
                   headers={"Authorization": f"Bearer {token}"})
    assert answer.json() == {"status": "subscribed"}
    person = contact(container, "maija@example.fi")
    assert person is not None and person.name == "Maija Meikäläinen"
    [event] = events(container)
    assert (event.kind, event.notice_version) == ("granted", 1)
    proof = evidence_of(container, event.id)
    assert proof is not None
    assert (proof.ip, proof.source_ip) == ("203.0.113.5", "127.0.0.1")
    assert proof.page_url == "https://klinikka.fi/uutiskirje"
    assert proof.user_agent == "Mozilla/5.0 (Windows NT 10.0)"
    # The same entry delivered again (Gravity retries) is recognised by its entry id.
    again = _post(live_server, "/webhooks/forms/gf", json={**entry, "date_created": "x"},
                  headers={"Authorization": f"Bearer {token}"})
    assert again.json() == {"status": "duplicate"}


def test_elementor_advanced_data_with_the_secret_in_the_url_answers_exactly_200(
    live_server: Any, container: Any
) -> None:
    token = add_source(container, "el", "elementor")
    body = ("form[id]=a1b2c3d&form[name]=Uutiskirje&fields[email][value]=maija%40example.fi"
            "&fields[email][title]=S%C3%A4hk%C3%B6posti&fields[consent][value]=on"
            "&fields[consent][title]=Suostumus&meta[remote_ip][value]=203.0.113.5"
            "&meta[page_url][value]=https%3A%2F%2Fklinikka.fi%2F")
    answer = _post(live_server, f"/webhooks/forms/el?secret={token}", data=body,
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200
    assert states(container, "maija@example.fi") == {"email": "pending"}
    proof = evidence_of(container, events(container)[0].id)
    assert proof is not None and proof.ip == "203.0.113.5"
    assert proof.page_url == "https://klinikka.fi/"


def test_elementor_default_shape_keys_fields_by_their_labels(
    live_server: Any, container: Any
) -> None:
    token = add_source(container, "el", "elementor", mapping={"consent": ["Hyväksyn ehdot"]})
    fields = {"Nimi": "Maija", "Sähköposti": "maija@example.fi", "Hyväksyn ehdot": "on",
              "form_id": "a1b2c3d", "form_name": "Uutiskirje"}
    answer = _post(live_server, f"/webhooks/forms/el?secret={token}", data=fields)
    assert answer.status_code == 200 and answer.json()["status"] == "pending"
    person = contact(container, "maija@example.fi")
    assert person is not None and person.name == "Maija"


def test_elementor_invalid_address_records_nothing_and_answers_200(
    live_server: Any, container: Any
) -> None:
    token = add_source(container, "el", "elementor")
    answer = _post(live_server, f"/webhooks/forms/el?secret={token}",
                   data={"fields[email][value]": "not an address", "fields[consent][value]": "on"})
    assert answer.status_code == 200
    assert answer.json()["status"] == "ignored" and "email" in answer.json()["fields"]
    assert count_contacts(container) == 0


def test_fluent_forms_nested_names_and_submission_metadata(
    live_server: Any, container: Any
) -> None:
    token = add_source(container, "ff", "fluentforms")
    body = {"names": {"first_name": "Maija", "last_name": "Meikäläinen"},
            "email": "maija@example.fi", "gdpr-agreement": "on",
            "__submission": {"id": 7, "ip": "198.51.100.7", "source_url": "https://klinikka.fi/",
                             "browser": "Firefox"}}
    answer = _post(live_server, "/webhooks/forms/ff", json=body,
                   headers={"X-Consent-Secret": token})
    assert answer.json() == {"status": "pending"}
    person = contact(container, "maija@example.fi")
    assert person is not None and person.name == "Maija Meikäläinen"
    proof = evidence_of(container, events(container)[0].id)
    assert proof is not None and (proof.ip, proof.user_agent) == ("198.51.100.7", "Firefox")


def test_fluent_forms_form_encoded_bracket_keys(live_server: Any, container: Any) -> None:
    token = add_source(container, "ff", "fluentforms")
    answer = _post(live_server, "/webhooks/forms/ff", headers={"X-Consent-Secret": token},
                   data={"names[first_name]": "Maija", "email": "maija@example.fi",
                         "gdpr-agreement": "on", "__submission[ip]": "198.51.100.7"})
    assert answer.json() == {"status": "pending"}


def test_generic_source_takes_our_field_names(live_server: Any, container: Any) -> None:
    token = add_source(container, "gen", "generic", channels=("email",))
    answer = _post(live_server, "/webhooks/forms/gen", headers={"X-Consent-Secret": token},
                   data={"email": "maija@example.fi", "consent": "on", "language": "sv"})
    assert answer.json() == {"status": "pending"}
    person = contact(container, "maija@example.fi")
    assert person is not None and person.language == "sv"


def test_secret_in_the_url_is_redacted_from_the_access_log(
    live_server: Any, container: Any, caplog: pytest.LogCaptureFixture
) -> None:
    token = add_source(container, "el", "elementor")
    assert token is not None
    caplog.set_level(logging.INFO, logger="werkzeug")
    _post(live_server, f"/webhooks/forms/el?secret={token}", data={"x": "y"})
    _post(live_server, "/webhooks/forms/el?secret=guessed-wrong", data={"x": "y"})
    assert "/webhooks/forms/el?secret=[redacted]" in caplog.text
    assert token not in caplog.text and "guessed-wrong" not in caplog.text


def test_the_openapi_document_describes_the_webhook_routes_as_they_answer(
    client: Any, container: Any
) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    form = paths["/webhooks/forms/{source}"]["post"]
    provider = paths["/webhooks/email/{provider}"]["post"]
    documented = form["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
    assert set(form["responses"]) == {"200", "401", "429"}
    assert provider["parameters"][0]["schema"]["enum"] == ["postmark", "mailgun", "ses",
                                                           "sendgrid", "brevo"]
    token = add_source(container, "site", "cf7", mapping={"consent": ["uutiskirje"]})
    headers = {"X-Consent-Secret": token}
    answers = [client.post("/webhooks/forms/site", json=CF7, headers=headers).get_json(),
               client.post("/webhooks/forms/site", json=CF7, headers=headers).get_json(),
               client.post("/webhooks/forms/site", json={**CF7, "uutiskirje": ""},
                           headers=headers).get_json()]
    assert [a["status"] for a in answers] == ["pending", "duplicate", "ignored"]
    for answer in answers:
        assert answer["status"] in documented["status"]["enum"]
        assert answer.get("reason", "consent_not_given") in documented["reason"]["enum"]


PEOPLE = [("Maija Meikäläinen", "maija@example.fi"), ("Åsa Öberg", "asa.oberg@example.se"),
          ("Pekka Virtanen", "pekka.virtanen@example.fi")]


def test_every_form_encoded_delivery_to_a_source_records_its_own_person(
    client: Any, container: Any
) -> None:
    """Elementor posts only form-encoded, with no entry id: each visitor is a new delivery."""
    token = add_source(container, "el", "elementor", mapping={"consent": ["Hyväksyn"]})
    for name, email in PEOPLE:
        answer = client.post(f"/webhooks/forms/el?secret={token}", data={
            "Nimi": name, "Sähköposti": email, "Hyväksyn": "on",
            "form_id": "a1b2c3d", "form_name": "Uutiskirje"})
        assert answer.status_code == 200 and answer.get_json() == {"status": "pending"}
    for name, email in PEOPLE:
        person = contact(container, email)
        assert person is not None and person.name == name
        assert states(container, email) == {"email": "pending"}
    assert queued_mails(container) == 3


def test_every_multipart_delivery_to_a_generic_source_records_its_own_person(
    client: Any, container: Any
) -> None:
    token = add_source(container, "gen", "generic")
    for _name, email in PEOPLE:
        answer = client.post("/webhooks/forms/gen", headers={"X-Consent-Secret": token},
                             content_type="multipart/form-data",
                             data={"email": email, "consent": "on"})
        assert answer.get_json() == {"status": "pending"}
    assert count_contacts(container) == 3


def test_an_unticked_delivery_does_not_swallow_the_next_visitors_ticked_one(
    client: Any, container: Any
) -> None:
    token = add_source(container, "wp", "wpforms")
    unticked = client.post("/webhooks/forms/wp", headers={"X-Consent-Secret": token},
                           data={"email": "maija@example.fi", "consent": ""})
    ticked = client.post("/webhooks/forms/wp", headers={"X-Consent-Secret": token},
                         data={"email": "pekka@example.fi", "consent": "Kyllä"})
    assert unticked.get_json() == {"status": "ignored", "reason": "consent_not_given"}
    assert ticked.get_json() == {"status": "pending"}
    assert states(container, "pekka@example.fi") == {"email": "pending"}
    assert contact(container, "maija@example.fi") is None


@pytest.mark.both_databases
def test_the_same_form_encoded_bytes_again_are_a_duplicate_only_while_a_resend_is_possible(
    client: Any, container: Any
) -> None:
    token = add_source(container, "el", "elementor")
    body = {"fields[email][value]": "maija@example.fi", "fields[consent][value]": "on"}
    path = f"/webhooks/forms/el?secret={token}"
    assert client.post(path, data=body).get_json() == {"status": "pending"}
    assert client.post(path, data=body).get_json() == {"status": "duplicate"}
    container.clock.advance(hours=2)
    # Hours later the same person filling in the same form is asking again.
    assert client.post(path, data=body).get_json() == {"status": "pending"}
    assert queued_mails(container) == 2


def test_an_empty_delivery_is_ignored_and_claims_nothing(client: Any, container: Any) -> None:
    token = add_source(container, "el", "elementor")
    path = f"/webhooks/forms/el?secret={token}"
    empty = client.post(path, data=b"", content_type="application/x-www-form-urlencoded")
    assert empty.get_json() == {"status": "ignored", "reason": "empty_body"}
    real = client.post(path, data={"fields[email][value]": "maija@example.fi",
                                   "fields[consent][value]": "on"})
    assert real.get_json() == {"status": "pending"}


def test_elementor_default_shape_keeps_the_visitors_ip_browser_and_page(
    client: Any, container: Any
) -> None:
    token = add_source(container, "el", "elementor", mapping={"consent": ["Hyväksyn"]})
    client.post(f"/webhooks/forms/el?secret={token}", data={
        "Sähköposti": "maija@example.fi", "Hyväksyn": "on", "Date": "20.11.2026",
        "Time": "11.00", "Page URL": "https://klinikka.fi/uutiskirje",
        "User Agent": "Mozilla/5.0 (iPhone)", "Remote IP": "203.0.113.5",
        "Powered by": "Elementor", "form_id": "a1b2c3d", "form_name": "Uutiskirje"})
    proof = evidence_of(container, events(container)[0].id)
    assert proof is not None
    assert (proof.ip, proof.user_agent, proof.page_url) == (
        "203.0.113.5", "Mozilla/5.0 (iPhone)", "https://klinikka.fi/uutiskirje")


def test_cf7_special_mail_tags_are_kept_as_evidence(client: Any, container: Any) -> None:
    token = add_source(container, "site", "cf7", mapping={"consent": ["uutiskirje"]})
    client.post("/webhooks/forms/site", headers={"X-Consent-Secret": token}, json={
        **CF7, "_remote_ip": "198.51.100.7", "_user_agent": "Mozilla/5.0 (Android)",
        "_url": "https://klinikka.fi/yhteys"})
    proof = evidence_of(container, events(container)[0].id)
    assert proof is not None
    assert (proof.ip, proof.user_agent, proof.page_url) == (
        "198.51.100.7", "Mozilla/5.0 (Android)", "https://klinikka.fi/yhteys")


def test_a_visitor_ip_that_is_not_an_address_is_not_kept(client: Any, container: Any) -> None:
    token = add_source(container, "site", "cf7", mapping={"consent": ["uutiskirje"]})
    answer = client.post("/webhooks/forms/site", headers={"X-Consent-Secret": token},
                         json={**CF7, "_remote_ip": "x" * 80})
    assert answer.get_json() == {"status": "pending"}
    proof = evidence_of(container, events(container)[0].id)
    assert proof is not None and proof.ip is None

"""The rules of website opt-in, checked through the HTTP API on SQLite and PostgreSQL.

What the form parser refuses is proven without HTTP in tests/unit/test_opt_in_form_rules.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from service.domain.models import ConsentEvent, Contact, Evidence, OutboxItem, Subscription
from service.domain.tokens import Purpose, TokenService
from tests.conftest import make_container
from tests.register_support import readiness_details

GOOD = {"email": "maija@example.fi", "consent": True}


def count(container: Any, model: Any) -> int:
    with container.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def mails(container: Any) -> int:
    with container.session_factory() as session:
        return int(session.scalar(
            select(func.count()).select_from(OutboxItem).where(OutboxItem.kind == "mail")
        ) or 0)


def nothing_written(container: Any) -> bool:
    return all(count(container, m) == 0 for m in (Contact, ConsentEvent, Evidence, OutboxItem))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        # Which fields are at fault is the parser's rule (tests/unit/test_opt_in_form_rules.py);
        # here, the answer's shape once, and the one rule that needs the database.
        ({**GOOD, "channels": ["email", "fax"]}, "channels"),
        ({**GOOD, "notice": 99}, "notice"),  # no such published notice
    ],
)
def test_invalid_opt_in_gets_422_naming_the_field_and_writes_nothing(
    client: Any, container: Any, body: dict[str, Any], field: str
) -> None:
    answer = client.post("/api/v1/subscribe", json=body)
    assert answer.status_code == 422
    assert field in answer.get_json()["fields"]
    assert nothing_written(container)


def test_malformed_json_gets_400_naming_the_problem(client: Any, container: Any) -> None:
    answer = client.post("/api/v1/subscribe", data="{email: ", content_type="application/json")
    assert answer.status_code == 400
    assert "JSON" in answer.get_json()["message"]
    answer = client.post("/api/v1/subscribe", json=["maija@example.fi"])
    assert answer.status_code == 400
    assert nothing_written(container)


def test_wrong_content_type_gets_415(client: Any, container: Any) -> None:
    answer = client.post("/api/v1/subscribe", data="email=maija@example.fi",
                         content_type="text/plain", headers={"Accept": "application/json"})
    assert answer.status_code == 415
    assert "application/json" in answer.get_json()["message"]
    assert nothing_written(container)


def test_oversized_body_gets_413_not_500(client: Any, container: Any) -> None:
    answer = client.post("/api/v1/subscribe", json={**GOOD, "name": "x" * 70_000})
    assert answer.status_code == 413
    assert nothing_written(container)


def test_form_post_with_bad_input_gets_a_page_naming_the_field(client: Any) -> None:
    answer = client.post("/api/v1/subscribe", data={"email": "nope", "consent": "on"},
                         headers={"Accept": "text/html"})
    assert answer.status_code == 422
    assert answer.mimetype == "text/html"
    page = answer.get_data(as_text=True)
    assert "Sähköposti</strong>: ei ole kelvollinen sähköpostiosoite" in page
    assert "Traceback" not in page


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("fi", ["Suostumus</strong>: rastita ruutu", "Puhelin</strong>: ei ole"]),
        ("sv", ["Samtycke</strong>: kryssa i rutan", "Telefon</strong>: är inte"]),
        ("en", ["Consent</strong>: tick the box", "Phone</strong>: is not"]),
    ],
)
def test_a_person_is_told_what_to_fix_in_their_own_language(
    client: Any, container: Any, language: str, words: list[str]
) -> None:
    answer = client.post("/api/v1/subscribe", headers={"Accept": "text/html"},
                         data={"email": "maija@example.fi", "phone": "12", "language": language})
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    for text in words:
        assert text in page
    # Programs keep the English words, keyed by field.
    program = client.post("/api/v1/subscribe", json={"email": "maija@example.fi",
                                                     "phone": "12", "language": language})
    assert program.get_json()["fields"]["consent"] == "must be ticked (true or on) to subscribe"
    assert nothing_written(container)


def test_known_and_unknown_addresses_get_the_same_answer(client: Any, container: Any) -> None:
    first = client.post("/api/v1/subscribe", json=GOOD)
    again = client.post("/api/v1/subscribe", json=GOOD)
    other = client.post("/api/v1/subscribe", json={**GOOD, "email": "ville@example.fi"})
    assert first.status_code == again.status_code == other.status_code == 202
    assert first.get_json() == again.get_json() == other.get_json() == {"status": "pending"}


def test_pending_address_gets_one_confirmation_per_cooldown(
    client: Any, container: Any, clock: Any
) -> None:
    for _ in range(3):
        client.post("/api/v1/subscribe", json=GOOD)
    assert mails(container) == 1
    clock.advance(minutes=11)
    client.post("/api/v1/subscribe", json=GOOD)
    assert mails(container) == 2


def test_subscribed_address_gets_no_new_confirmation(client: Any, container: Any) -> None:
    client.post("/api/v1/subscribe", json=GOOD)
    with container.session_factory() as session:
        contact = session.scalars(select(Contact)).one()
    token = container.deps.tokens.sign(
        Purpose.CONFIRM, {"c": contact.public_id, "r": 1, "ch": ["email"]})
    assert client.post(f"/confirm/{token}").status_code == 200
    before = mails(container)
    answer = client.post("/api/v1/subscribe", json=GOOD)
    assert answer.get_json() == {"status": "pending"}
    assert mails(container) == before


def test_honeypot_submission_looks_accepted_but_records_nothing(
    client: Any, container: Any
) -> None:
    answer = client.post("/api/v1/subscribe", json={**GOOD, "website": "http://spam"})
    assert answer.status_code == 202
    assert answer.get_json() == {"status": "pending"}
    assert nothing_written(container)


def test_single_opt_in_subscribes_at_once_and_sends_a_welcome(
    settings: Any, clock: Any
) -> None:
    from service.web import create_app

    container = make_container(settings, clock, double_opt_in=False)
    try:
        client = create_app(container=container).test_client()
        answer = client.post("/api/v1/subscribe", json=GOOD)
        assert answer.get_json() == {"status": "subscribed"}
        with container.session_factory() as session:
            assert session.scalars(select(Subscription.state)).one() == "subscribed"
            assert session.scalars(select(ConsentEvent.kind)).one() == "granted"
            raw = session.scalars(select(OutboxItem.payload_json).where(
                OutboxItem.kind == "mail")).one()
        assert "List-Unsubscribe" in raw
    finally:
        container.close()


def test_form_post_redirects_only_to_an_allowed_next(settings: Any, clock: Any) -> None:
    from service.web import create_app

    container = make_container(settings, clock, allowed_origins=("https://klinikka.example.fi",))
    try:
        client = create_app(container=container).test_client()
        form = {"email": "maija@example.fi", "consent": "on"}
        trusted = client.post("/api/v1/subscribe", headers={"Accept": "text/html"},
                              data={**form, "next": "https://klinikka.example.fi/kiitos"})
        assert trusted.status_code == 303
        assert trusted.headers["Location"] == "https://klinikka.example.fi/kiitos"
        foreign = client.post("/api/v1/subscribe", headers={"Accept": "text/html"},
                              data={**form, "next": "https://evil.example.com/"})
        assert foreign.status_code == 202
        assert "Kiitos" in foreign.get_data(as_text=True)
        cors = client.post("/api/v1/subscribe", json=GOOD,
                           headers={"Origin": "https://klinikka.example.fi"})
        assert cors.headers["Access-Control-Allow-Origin"] == "https://klinikka.example.fi"
        other = client.post("/api/v1/subscribe", json=GOOD,
                            headers={"Origin": "https://evil.example.com"})
        assert "Access-Control-Allow-Origin" not in other.headers
        framed = client.get("/subscribe")
        assert "frame-ancestors 'self' https://klinikka.example.fi" in \
            framed.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in client.get("/healthz").headers[
            "Content-Security-Policy"]
    finally:
        container.close()


def test_opt_ins_beyond_the_rate_limit_get_429(settings: Any, clock: Any) -> None:
    from service.web import create_app

    container = make_container(settings, clock, optin_rate_limit="3/minute")
    try:
        client = create_app(container=container).test_client()
        answers = [
            client.post("/api/v1/subscribe", json={**GOOD, "email": f"p{i}@example.fi"})
            for i in range(5)
        ]
        assert [a.status_code for a in answers] == [202, 202, 202, 429, 429]
        assert count(container, Contact) == 3
        # A refused caller is told when to try again: when the minute's window ends.
        assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
        assert answers[-1].get_json()["error"] == "rate_limited"
    finally:
        container.close()


@pytest.mark.parametrize("kind", ["forged", "truncated", "other_purpose", "expired"])
def test_unusable_confirmation_link_gets_4xx_and_changes_nothing(
    client: Any, container: Any, clock: Any, kind: str
) -> None:
    client.post("/api/v1/subscribe", json=GOOD)
    with container.session_factory() as session:
        contact = session.scalars(select(Contact)).one()
    payload = {"c": contact.public_id, "r": 1, "ch": ["email"]}
    good = container.deps.tokens.sign(Purpose.CONFIRM, payload)
    token = {
        "forged": TokenService(["another-key-0123456789"], clock).sign(Purpose.CONFIRM, payload),
        "truncated": good[:-4],
        "other_purpose": container.deps.tokens.sign(Purpose.UNSUBSCRIBE, payload),
        "expired": good,
    }[kind]
    if kind == "expired":
        clock.advance(days=8)
    page = client.get(f"/confirm/{token}")
    answer = client.post(f"/confirm/{token}")
    assert 400 <= page.status_code < 500
    assert 400 <= answer.status_code < 500
    assert "form method" not in answer.get_data(as_text=True)
    with container.session_factory() as session:
        assert session.scalars(select(Subscription.state)).one() == "pending"
    assert count(container, ConsentEvent) == 1


def test_confirming_twice_is_harmless(client: Any, container: Any) -> None:
    client.post("/api/v1/subscribe", json=GOOD)
    with container.session_factory() as session:
        contact = session.scalars(select(Contact)).one()
    token = container.deps.tokens.sign(
        Purpose.CONFIRM, {"c": contact.public_id, "r": 1, "ch": ["email"]})
    assert client.post(f"/confirm/{token}").status_code == 200
    assert client.post(f"/confirm/{token}").status_code == 200
    with container.session_factory() as session:
        kinds = list(session.scalars(select(ConsentEvent.kind).order_by(ConsentEvent.id)))
    assert kinds == ["requested", "confirmed"]


def test_phone_is_stored_in_e164_and_sms_is_a_channel_of_its_own(
    client: Any, container: Any
) -> None:
    client.post("/api/v1/subscribe",
                json={**GOOD, "phone": "040 123 4567", "channels": ["email", "sms"]})
    with container.session_factory() as session:
        contact = session.scalars(select(Contact)).one()
        channels = sorted(session.scalars(select(Subscription.channel)))
    assert contact.phone == "+358401234567"
    assert channels == ["email", "sms"]


def test_readiness_reports_the_queue_and_mirror(client: Any, container: Any) -> None:
    client.post("/api/v1/subscribe", json=GOOD)
    body = readiness_details(client, container)
    assert body["status"] == "ok"
    assert body["outbox"]["waiting"] >= 1
    assert "lag_seconds" in body["mirror"]


def test_openapi_describes_the_opt_in_endpoint(client: Any) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    assert "422" in doc["paths"]["/api/v1/subscribe"]["post"]["responses"]

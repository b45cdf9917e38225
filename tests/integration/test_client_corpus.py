"""The client corpus replayed: every real-shaped delivery in tests/fixtures/clients does its job.

Form add-ons: each fixture is replayed for three different people (a Finnish, a Swedish and an
Irish name), then each delivery again byte for byte. Each person must end up with what the
clinic and the person would see: the answer the plugin counts as success, the contact with the
name, one confirmation (or welcome) mail, and the evidence the plugin sent (visitor IP, browser,
page). A redelivery records nothing. Providers: each event replayed against subscribed
addresses takes a hard-bounced or complaining address off the register, only counts a soft
bounce, and counts once when delivered again.

A failing test lists every mismatch it found (tests/client_corpus_support.Findings).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from service.domain.models import Method
from tests.client_corpus_support import (
    PEOPLE,
    Delivery,
    FakeSns,
    Findings,
    Person,
    all_events,
    all_mails,
    basic,
    events_of,
    evidence,
    fill,
    form_delivery,
    ids,
    is_form_encoded,
    load,
    mailgun_sign,
    mails_to,
    on_register,
    people_values,
    post,
    sendgrid_headers,
    sendgrid_public_key,
    sns_envelope,
    unticked,
)
from tests.webhook_support import add_source, contact, count_contacts, states, subscribed

FORMS = load("forms")
FORM_ENCODED = [f for f in FORMS if is_form_encoded(f)]
PROVIDERS = load("providers")
PROVIDER_EVENTS = [f for f in PROVIDERS if "outcomes" in f["expect"]]
SOURCE = "site"

REQUIRED_FORMS = {
    "cf7_to_webhook_json", "wpforms_json", "wpforms_json_signed", "wpforms_form",
    "wpforms_form_signed", "gravityforms_all_fields_json", "gravityforms_all_fields_form",
    "elementor_labels", "elementor_advanced_data", "fluentforms_all_data_json",
    "fluentforms_all_data_form", "generic_html_form_urlencoded", "generic_html_form_multipart",
}
REQUIRED_PROVIDERS = {
    "postmark_bounce_hard", "postmark_spam_complaint", "postmark_subscription_change_spam",
    "postmark_subscription_change_hard_bounce", "mailgun_failed_permanent",
    "mailgun_failed_temporary", "mailgun_complained", "ses_sns_bounce_permanent",
    "ses_sns_complaint", "ses_sns_subscription_confirmation",
    "sendgrid_batch_bounce_dropped_spamreport", "brevo_hard_bounce", "brevo_spam",
}


# --- the corpus itself ----------------------------------------------------------------------


def test_the_corpus_holds_every_required_client_and_says_where_each_shape_comes_from() -> None:
    assert {f["_id"] for f in FORMS} >= REQUIRED_FORMS
    assert {f["_id"] for f in PROVIDERS} >= REQUIRED_PROVIDERS
    for fixture in FORMS + PROVIDERS:
        missing = {"client", "shape_from", "auth", "content_type", "encoding", "body",
                   "expect"} - fixture.keys()
        assert not missing, f"{fixture['_id']} lacks {sorted(missing)}"
        assert len(fixture["shape_from"]) > 40, f"{fixture['_id']}: say where the shape is from"
    for fixture in FORMS:
        assert "{{email}}" in json.dumps(fixture["body"]), fixture["_id"]
        assert fixture["expect"]["status"] in ("pending", "subscribed"), fixture["_id"]
        assert not is_form_encoded(fixture) or "consent_key" in fixture, fixture["_id"]
    # Three different people, ASCII addresses, a Finnish and a Swedish name with ä/ö/å.
    assert len({p.email for p in PEOPLE}) == len(PEOPLE) >= 3
    assert all(p.email.isascii() for p in PEOPLE)
    assert any(set("äö") & set(p.name) for p in PEOPLE)
    assert any("å" in p.name.lower() for p in PEOPLE)


# --- form add-ons ---------------------------------------------------------------------------


def _add_form_source(container: Any, fixture: dict[str, Any]) -> str | None:
    options = dict(fixture.get("source_options", {}))
    return add_source(container, SOURCE, fixture["kind"], **options)


def _check_recorded(found: Findings, container: Any, person: Person, answer: Any,
                    want: dict[str, Any]) -> None:
    """Check what the person and the clinic see after one person's delivery."""
    who = person.email
    found.equal(f"{who}: answer", (answer.status_code, answer.get_json()),
                (200, {"status": want["status"]}))
    row = contact(container, person.email)
    if not found.check(row is not None, f"{who}: no contact was recorded"):
        return
    found.equal(f"{who}: contact's name", row.name, want["name"])
    if "phone" in want:
        found.equal(f"{who}: contact's phone", row.phone, want["phone"])
    if "language" in want:
        found.equal(f"{who}: contact's language", row.language, want["language"])
    channels = want.get("channels", ["email"])
    found.equal(f"{who}: subscriptions", states(container, person.email),
                dict.fromkeys(channels, want["status"]))
    mails = mails_to(container, row.id)
    found.equal(f"{who}: emails queued to the person", len(mails), 1)
    if mails:
        found.check(person.email in mails[0].payload_json, f"{who}: the mail is not to them")
    kind = "requested" if want["status"] == "pending" else "granted"
    recorded = events_of(container, row.id)
    found.equal(f"{who}: consent events (kind, method, source)",
                [(e.kind, e.method, e.source) for e in recorded],
                [(kind, Method.FORM_WEBHOOK, SOURCE)] * len(channels))
    if not recorded:
        return
    proof = evidence(container, recorded[0].id)
    if not found.check(proof is not None, f"{who}: the consent event has no evidence"):
        return
    for name, value in want.get("evidence", {}).items():
        found.equal(f"{who}: evidence {name}", getattr(proof, name), value)


@pytest.mark.parametrize("fixture", FORMS, ids=list(ids(FORMS)))
def test_form_client_records_each_of_three_people_once(
    client: Any, container: Any, fixture: dict[str, Any]
) -> None:
    token = _add_form_source(container, fixture)
    now = int(container.clock.now().timestamp())
    found = Findings()
    sent: list[tuple[Person, Delivery]] = []
    for person in PEOPLE:
        delivery = form_delivery(fixture, SOURCE, token, person, now=now)
        sent.append((person, delivery))
        answer = post(client, delivery)
        _check_recorded(found, container, person, answer, fill(fixture["expect"],
                                                                person.values()))
    events_before, mails_before = all_events(container), all_mails(container)
    for person, delivery in sent:
        again = post(client, delivery)
        found.equal(f"{person.email}: answer to the same delivery sent again",
                    (again.status_code, again.get_json()), (200, {"status": "duplicate"}))
    found.equal("consent events after the redeliveries", all_events(container), events_before)
    found.equal("emails queued after the redeliveries", all_mails(container), mails_before)
    found.assert_none(fixture["client"])


@pytest.mark.parametrize("fixture", FORM_ENCODED, ids=list(ids(FORM_ENCODED)))
def test_form_encoded_unticked_delivery_then_the_next_visitors_ticked_one_is_recorded(
    client: Any, container: Any, fixture: dict[str, Any]
) -> None:
    token = _add_form_source(container, fixture)
    now = int(container.clock.now().timestamp())
    first, second = PEOPLE[0], PEOPLE[1]
    found = Findings()
    skipped = post(client, form_delivery(fixture, SOURCE, token, first, now=now,
                                         body=unticked(fixture, first)))
    found.equal("answer to the unticked delivery", (skipped.status_code, skipped.get_json()),
                (200, {"status": "ignored", "reason": "consent_not_given"}))
    found.equal("contacts after the unticked delivery", count_contacts(container), 0)
    answer = post(client, form_delivery(fixture, SOURCE, token, second, now=now))
    _check_recorded(found, container, second, answer, fill(fixture["expect"], second.values()))
    found.check(contact(container, first.email) is None,
                f"{first.email} was recorded though the box was not ticked")
    found.assert_none(fixture["client"])


def test_form_encoded_client_over_real_http_records_every_visitor(
    live_server: Any, container: Any
) -> None:
    """The same replay through a real HTTP server (the body must survive the real stream)."""
    [fixture] = [f for f in FORMS if f["_id"] == "elementor_labels"]
    token = _add_form_source(container, fixture)
    now = int(container.clock.now().timestamp())
    found = Findings()
    for person in PEOPLE:
        delivery = form_delivery(fixture, SOURCE, token, person, now=now)
        answer = requests.post(live_server.url + delivery.path, data=delivery.raw, timeout=10,
                               headers={**delivery.headers,
                                        "Content-Type": delivery.content_type})
        found.equal(f"{person.email}: answer", (answer.status_code, answer.json()),
                    (200, {"status": fixture["expect"]["status"]}))
        row = contact(container, person.email)
        found.check(row is not None and row.name == person.name,
                    f"{person.email}: not recorded with their name")
    found.assert_none(fixture["client"])


# --- email providers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sendgrid_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def sns_keys() -> FakeSns:
    return FakeSns.create()


@pytest.fixture
def sns(app: Any, sns_keys: FakeSns) -> FakeSns:
    """Serve the test certificate through the app's injection points (as the provider tests do)."""
    fake = FakeSns(sns_keys.key, sns_keys.pem, sns_keys.ca)
    adapters = app.extensions["consent.webhooks"]
    adapters.sns_cert_fetcher = fake.fetch
    adapters.sns_confirm = fake.confirmed.append
    adapters.sns_trust_roots = [fake.ca]
    return fake


def _provider_delivery(
    fixture: dict[str, Any], token: str | None, values: dict[str, str], *, now: int,
    sendgrid_key: ec.EllipticCurvePrivateKey, sns: FakeSns,
) -> tuple[bytes, dict[str, str]]:
    """Return the bytes and headers of one provider delivery, signed as the provider signs."""
    body = fill(fixture["body"], values)
    headers = dict(fixture.get("headers", {}))
    auth = fixture["auth"]
    if auth == "sns_signature":
        return sns_envelope(fixture, values, sns), headers
    if auth == "mailgun_signature":
        body = mailgun_sign(body, fixture["source_options"]["signing_secret"], now)
    raw = json.dumps(body).encode("utf-8")
    if auth == "sendgrid_signature":
        headers.update(sendgrid_headers(sendgrid_key, raw, now))
    elif auth == "basic":
        headers["Authorization"] = basic(fixture.get("basic_user", "user"), str(token))
    elif auth == "bearer":
        headers["Authorization"] = f"Bearer {token}"
    elif auth != "mailgun_signature":
        raise ValueError(f"{fixture['_id']}: unknown auth {auth!r}")
    return raw, headers


def _add_provider_source(container: Any, fixture: dict[str, Any],
                         sendgrid_key: ec.EllipticCurvePrivateKey) -> str | None:
    options: dict[str, Any] = dict(fixture.get("source_options", {}))
    if fixture["auth"] == "sendgrid_signature":
        options["signing_secret"] = sendgrid_public_key(sendgrid_key)
    if "topic_arns" in options:
        options["topic_arns"] = tuple(options["topic_arns"])
    provider = fixture["provider"]
    return add_source(container, provider, provider, **options)


def _check_outcome(found: Findings, container: Any, provider: str, email: str,
                   outcome: str) -> None:
    person = contact(container, email)
    if not found.check(person is not None, f"{email}: the contact vanished"):
        return
    last = events_of(container, person.id)[-1]
    if outcome == "hard_bounce":
        found.check(person.email_undeliverable_at is not None,
                    f"{email}: not marked undeliverable after a hard bounce")
        found.equal(f"{email}: last event", (last.kind, last.method, last.source),
                    ("bounced", Method.PROVIDER_BOUNCE, provider))
        found.check(not on_register(container, email), f"{email}: still on the register")
    elif outcome == "complaint":
        found.equal(f"{email}: subscriptions", states(container, email),
                    {"email": "unsubscribed"})
        found.equal(f"{email}: last event", (last.kind, last.method, last.source),
                    ("complained", Method.PROVIDER_COMPLAINT, provider))
        found.check(not on_register(container, email), f"{email}: still on the register")
    elif outcome == "soft_bounce":
        found.equal(f"{email}: soft bounces counted", person.soft_bounces, 1)
        found.check(person.email_undeliverable_at is None,
                    f"{email}: a soft bounce marked the address undeliverable")
        found.equal(f"{email}: subscriptions", states(container, email), {"email": "subscribed"})
        found.check(on_register(container, email), f"{email}: a soft bounce took it off")
    else:
        raise ValueError(outcome)


def _soft_bounces(container: Any, emails: list[str]) -> list[int | None]:
    found = [contact(container, e) for e in emails]
    return [p.soft_bounces if p is not None else None for p in found]


@pytest.mark.parametrize("fixture", PROVIDER_EVENTS, ids=list(ids(PROVIDER_EVENTS)))
def test_provider_event_changes_the_register_once(
    client: Any, container: Any, fixture: dict[str, Any],
    sendgrid_key: ec.EllipticCurvePrivateKey, sns: FakeSns,
) -> None:
    outcomes: list[str] = fixture["expect"]["outcomes"]
    provider = fixture["provider"]
    emails = [p.email for p in PEOPLE[:len(outcomes)]]
    for email in emails:
        subscribed(container, email)
    token = _add_provider_source(container, fixture, sendgrid_key)
    values = people_values(len(outcomes))
    path = f"/webhooks/email/{provider}"

    def deliver() -> Callable[[], Any]:
        """Build one delivery, signed now; return what sends it (as often as called)."""
        raw, headers = _provider_delivery(
            fixture, token, values, now=int(container.clock.now().timestamp()),
            sendgrid_key=sendgrid_key, sns=sns)
        return lambda: client.post(path, data=raw, headers=headers,
                                   content_type=fixture["content_type"])

    found = Findings()
    send = deliver()
    first = send()
    found.equal("answer", first.status_code, 200)
    answer = first.get_json() or {}
    found.equal("events applied", answer.get("applied"), len(outcomes))
    for email, outcome in zip(emails, outcomes, strict=True):
        _check_outcome(found, container, provider, email, outcome)

    events_before = all_events(container)
    soft_before = _soft_bounces(container, emails)
    # The provider delivers the same event again some minutes later: byte for byte (SNS,
    # Postmark, Brevo) or signed anew (Mailgun's retries, SendGrid's).
    container.clock.advance(minutes=10)
    second = (send if fixture["redelivery"] == "identical" else deliver())()
    found.equal("answer to the redelivery", second.status_code, 200)
    repeat = second.get_json() or {}
    found.equal("redelivery: events applied", repeat.get("applied"), 0)
    found.equal("redelivery: events recognised as repeats", repeat.get("duplicates"),
                len(outcomes))
    found.equal("consent events after the redelivery", all_events(container), events_before)
    found.equal("soft bounces after the redelivery", _soft_bounces(container, emails),
                soft_before)
    for email, outcome in zip(emails, outcomes, strict=True):
        _check_outcome(found, container, provider, email, outcome)
    found.assert_none(fixture["client"])


def test_ses_subscription_confirmation_is_verified_then_confirmed(
    client: Any, container: Any, sns: FakeSns,
) -> None:
    [fixture] = [f for f in PROVIDERS if f["_id"] == "ses_sns_subscription_confirmation"]
    add_source(container, "ses", "ses", topic_arns=tuple(fixture["source_options"]["topic_arns"]))
    raw = sns_envelope(fixture, {}, sns)
    answer = client.post("/webhooks/email/ses", data=raw, headers=fixture["headers"],
                         content_type=fixture["content_type"])
    assert answer.status_code == 200
    assert sns.confirmed == [fixture["expect"]["confirmed"]]
    assert sns.fetched == [fixture["body"]["SigningCertURL"]]
    assert count_contacts(container) == 0 and all_events(container) == 0

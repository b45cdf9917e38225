"""Standard Webhooks signing, retry timing, address policy and plugin payload shapes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.domain import sources
from service.domain.sources import SourceConfig, SourceKind
from service.domain.webhooks_out import delivery, endpoints, targets
from webhooks import forms, standard_webhooks
from webhooks.outbound import parse_retry_after

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'


def test_the_standard_webhooks_test_vector_is_reproduced_exactly() -> None:
    assert standard_webhooks.sign(SECRET, MSG_ID, TIMESTAMP, BODY) == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_every_secret_signs_during_a_rotation_and_any_one_verifies() -> None:
    other = endpoints.new_secret()
    headers = standard_webhooks.headers([SECRET, other], MSG_ID, TIMESTAMP, BODY)
    assert headers["webhook-signature"].split(" ")[0] == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (SECRET, other):
        standard_webhooks.verify(secret, headers, BODY, now=TIMESTAMP + 10)


def test_a_tampered_body_or_stale_timestamp_does_not_verify() -> None:
    headers = standard_webhooks.headers([SECRET], MSG_ID, TIMESTAMP, BODY)
    with pytest.raises(standard_webhooks.InvalidSignature):
        standard_webhooks.verify(SECRET, headers, BODY + b" ", now=TIMESTAMP)
    with pytest.raises(standard_webhooks.InvalidSignature):
        standard_webhooks.verify(SECRET, headers, BODY, now=TIMESTAMP + 3600)


def test_new_secrets_are_whsec_and_32_random_bytes() -> None:
    secret = endpoints.new_secret()
    assert secret.startswith("whsec_") and len(secret) == len("whsec_") + 44
    assert secret != endpoints.new_secret()


def test_retries_span_about_three_days_then_stop() -> None:
    total = sum((s.total_seconds() for s in delivery.RETRY_SCHEDULE), 0.0)
    assert 2.5 * 86400 < total < 3.5 * 86400
    assert delivery.next_wait(len(delivery.RETRY_SCHEDULE) + 1) is None
    first = delivery.next_wait(1)
    assert first is not None and timedelta(seconds=4) <= first <= timedelta(seconds=6)


def test_retry_after_is_read_as_seconds_or_a_date() -> None:
    now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == timedelta(seconds=120)
    assert parse_retry_after("Fri, 20 Nov 2026 09:05:00 GMT", now) == timedelta(minutes=5)
    assert parse_retry_after("soon", now) is None


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.0.0.1", "private"),
    ("172.16.5.4", "private"), ("192.168.0.1", "private"), ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"), ("100.64.0.1", "private"), ("::ffff:127.0.0.1", "loopback"),
    ("0.0.0.0", "reserved"),  # noqa: S104 - an address under test, not a bind
    ("93.184.215.14", None), ("2606:4700::1111", None),
])
def test_only_public_addresses_are_targets_by_default(address: str, reason: str | None) -> None:
    assert targets.refusal_reason(address) == reason


def test_php_bracket_keys_and_nested_json_flatten_alike() -> None:
    nested = forms.flatten_json({"names": {"first_name": "Maija"}, "channels": ["email", "sms"]})
    posted = forms.flatten_form([("names[first_name]", "Maija"), ("channels[]", "email"),
                                 ("channels[]", "sms")])
    assert nested == posted == {"names[first_name]": "Maija", "channels": ["email", "sms"]}


def test_wpforms_joined_values_become_lists() -> None:
    submission = forms.parse_delivery(SourceKind.WPFORMS, raw=b"x",
                                      json_body={"channels": "Email||SMS"})
    assert submission.fields["channels"] == ["Email", "SMS"]


def test_a_redelivery_without_an_id_is_known_by_its_bytes() -> None:
    one = forms.parse_delivery(SourceKind.CF7, raw=b'{"a": 1}', json_body={"a": 1})
    two = forms.parse_delivery(SourceKind.CF7, raw=b'{"a": 1}', json_body={"a": 1})
    gravity = forms.parse_delivery(SourceKind.GRAVITYFORMS, raw=b"{}", json_body={"id": "42"})
    assert one.delivery_key == two.delivery_key
    assert gravity.delivery_key == "id:42"


@pytest.mark.parametrize(("value", "ticked"), [
    ("1", True), ("on", True), ("Kyllä, haluan uutiskirjeen", True), ("", False), ("0", False),
    (None, False), ([], False), (["Accepted"], True), (["", ""], False),
])
def test_what_counts_as_a_ticked_consent_box(value: object, ticked: bool) -> None:
    assert sources.is_ticked(value) is ticked  # type: ignore[arg-type]


def test_mapping_joins_first_and_last_name_and_matches_labels_case_blind() -> None:
    source = SourceConfig(id=1, name="x", kind=SourceKind.ELEMENTOR, token_hash=None,
                          signing_secret=None,
                          mapping={"email": ["sähköposti"], "name": ["first+last"]})
    fields = forms.flatten_json({"Sähköposti": "m@example.fi", "first": "Maija", "last": "M"})
    submission = sources.FormSubmission(fields=fields, delivery_key="k")
    ours = sources.to_opt_in_fields(source, submission)
    assert ours["email"] == "m@example.fi" and ours["name"] == "Maija M"


@pytest.mark.parametrize("address", [
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::127.0.0.1",  # IPv4-compatible (deprecated, still parsed)
    "2001:0:5db8:d70e:0:0:80ff:fffe",  # Teredo, client 127.0.0.1
])
def test_ipv6_forms_that_carry_a_loopback_ipv4_address_are_refused(address: str) -> None:
    assert targets.refusal_reason(address) == "loopback"
    with pytest.raises(targets.TargetRefused, match="loopback"):
        targets.check_target("https://hooks.example.com/hook", ["93.184.215.14", address],
                                allow_private=False)


@pytest.mark.parametrize(("address", "reason"), [
    ("2002:a9fe:a9fe::", "link-local"),  # 6to4 of the cloud metadata address
    ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ("64:ff9b:1::5db8:d70e", "private"),  # local-use NAT64: reaches a network of its own
    ("2002:5db8:d70e::", None),  # 6to4 of a public address
    ("64:ff9b::5db8:d70e", None),  # NAT64 (DNS64 on an IPv6-only host) of a public address
])
def test_ipv6_forms_are_judged_by_the_ipv4_address_they_reach(
    address: str, reason: str | None
) -> None:
    assert targets.refusal_reason(address) == reason

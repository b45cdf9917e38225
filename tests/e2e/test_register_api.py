"""Newsletter tools read the register over the API; staff systems record withdrawals."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
import requests

from service.domain import apikeys
from tests.register_support import (
    audit_entries,
    bulk_subscribe,
    events,
    new_key,
    states,
    subscribe,
    unsubscribe_path,
)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_register_lists_who_may_be_mailed_with_link_and_both_headers(
    client: Any, container: Any
) -> None:
    pid = subscribe(container, "maija@example.fi", name="Maija", language="sv")
    subscribe(container, "sms-only@example.fi", channels=("sms",), phone="+358401234567")
    answer = client.get("/api/v1/register", headers=bearer(new_key(container, "tool")))
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["next_cursor"] is None and body["channel"] == "email"
    (item,) = body["items"]
    assert item["contact_id"] == pid
    assert (item["name"], item["email"], item["language"]) == ("Maija", "maija@example.fi", "sv")
    assert item["consented_at"].startswith("2026-11-20T09:00:00")
    assert item["unsubscribe_url"].startswith("https://consent.example.fi/unsubscribe/")
    assert item["list_unsubscribe"] == f"<{item['unsubscribe_url']}>"
    assert item["list_unsubscribe_post"] == "List-Unsubscribe=One-Click"
    sms = client.get("/api/v1/register?channel=sms", headers=bearer(new_key(container, "sms")))
    assert [i["phone"] for i in sms.get_json()["items"]] == ["+358401234567"]


def test_a_withdrawn_contact_disappears_from_the_register_at_once(
    client: Any, container: Any
) -> None:
    key = new_key(container, "tool")
    pid = subscribe(container, "maija@example.fi")
    (item,) = client.get("/api/v1/register", headers=bearer(key)).get_json()["items"]
    path = item["unsubscribe_url"].removeprefix("https://consent.example.fi")
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert client.get("/api/v1/register", headers=bearer(key)).get_json()["items"] == []
    assert states(container)[(pid, "email")] == "unsubscribed"


def test_missing_or_wrong_keys_get_401_with_a_bearer_challenge(
    client: Any, container: Any
) -> None:
    new_key(container, "tool")
    missing = client.get("/api/v1/register")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="consent-register"'
    wrong = client.get("/api/v1/register", headers=bearer("crk_wrong"))
    assert wrong.status_code == 401
    assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
    basic = client.get("/api/v1/register", headers={"Authorization": "Basic dG9vbDp4"})
    assert basic.status_code == 401
    assert missing.get_json()["error"] == "unauthorized"


def test_revoked_keys_and_too_low_roles_get_403(client: Any, container: Any) -> None:
    revoked = new_key(container, "old")
    apikeys.revoke_key(container.uow(), "old", now=container.clock.now())
    answer = client.get("/api/v1/register", headers=bearer(revoked))
    assert answer.status_code == 403
    assert answer.get_json()["error"] == "key_revoked"
    reader = new_key(container, "reader")
    refused = client.post("/api/v1/withdrawals", json={"email": "a@example.fi"},
                          headers=bearer(reader))
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "insufficient_role"


def test_pages_are_stable_while_new_opt_ins_arrive(client: Any, container: Any) -> None:
    key = new_key(container, "tool")
    early = [subscribe(container, f"early{i}@example.fi") for i in range(3)]
    first = client.get("/api/v1/register?limit=2", headers=bearer(key)).get_json()
    late = subscribe(container, "late@example.fi")
    second = client.get(f"/api/v1/register?limit=2&cursor={first['next_cursor']}",
                        headers=bearer(key)).get_json()
    seen = [i["contact_id"] for i in first["items"] + second["items"]]
    assert seen == [*early, late]
    assert second["next_cursor"] is None


def test_bad_parameters_are_named(client: Any, container: Any) -> None:
    answer = client.get("/api/v1/register?limit=5000&channel=fax",
                        headers=bearer(new_key(container, "tool")))
    assert answer.status_code == 422
    assert set(answer.get_json()["fields"]) == {"limit", "channel"}


@pytest.mark.parametrize("ask", ["query", "accept"])
def test_csv_download_is_utf8_and_safe_to_open_in_a_spreadsheet(
    client: Any, container: Any, ask: str
) -> None:
    subscribe(container, "aino@example.fi", name="=HYPERLINK(\"https://evil\",\"x\")")
    subscribe(container, "-bob@example.fi", name="@SUM(1)")
    subscribe(container, "tuula@example.fi", name="+Tuula Äijälä")
    headers = bearer(new_key(container, "tool"))
    if ask == "accept":
        answer = client.get("/api/v1/register", headers={**headers, "Accept": "text/csv"})
    else:
        answer = client.get("/api/v1/register?format=csv", headers=headers)
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert answer.is_streamed
    rows = list(csv.DictReader(io.StringIO(answer.data.decode("utf-8"))))
    assert [r["name"] for r in rows] == [
        "'=HYPERLINK(\"https://evil\",\"x\")", "'@SUM(1)", "'+Tuula Äijälä"]
    assert rows[1]["email"] == "'-bob@example.fi"
    assert all(r["list_unsubscribe"] == f"<{r['unsubscribe_url']}>" for r in rows)
    assert rows[0]["list_unsubscribe_post"] == "List-Unsubscribe=One-Click"


def test_csv_of_an_empty_register_still_has_its_header(client: Any, container: Any) -> None:
    answer = client.get("/api/v1/register?format=csv", headers=bearer(new_key(container, "t")))
    assert answer.data.decode().splitlines() == [
        "contact_id,name,email,language,consented_at,unsubscribe_url,list_unsubscribe,"
        "list_unsubscribe_post"]


def test_large_csv_downloads_stream_over_http(live_server: Any, container: Any) -> None:
    ids = bulk_subscribe(container, 1205)
    with requests.get(f"{live_server.url}/api/v1/register?format=csv", stream=True,
                      headers=bearer(new_key(container, "tool")), timeout=30) as answer:
        assert answer.status_code == 200
        assert "Content-Length" not in answer.headers
        lines = [line for line in answer.iter_lines(decode_unicode=True) if line]
    assert len(lines) == 1 + len(ids)
    assert lines[-1].startswith(ids[-1])


def test_every_use_of_the_register_api_is_audited_without_addresses(
    client: Any, container: Any
) -> None:
    subscribe(container, "maija@example.fi")
    key = new_key(container, "tool")
    client.get("/api/v1/register", headers=bearer(key))
    client.get("/api/v1/register?format=csv", headers=bearer(key))
    client.get("/api/v1/register", headers=bearer("crk_wrong"))
    entries = [e for e in audit_entries(container) if e.action in ("register.read", "api.denied")]
    assert [e.action for e in entries] == ["register.read", "register.read", "api.denied"]
    (info,) = [k for k in apikeys.list_keys(container.uow()) if k.name == "tool"]
    assert entries[0].actor_type == "api_key" and entries[0].actor_id == f"{info.id}:tool"
    assert entries[0].ip == "127.0.0.1"
    assert json.loads(entries[1].detail_json or "{}")["format"] == "csv"
    assert all("@" not in (e.detail_json or "") for e in audit_entries(container))
    assert info.last_used_at == container.clock.now()


def test_withdrawal_api_records_the_key_as_actor(client: Any, container: Any) -> None:
    pid = subscribe(container, "maija@example.fi", channels=("email", "sms"),
                    phone="+358401234567")
    key = new_key(container, "crm", "staff")
    answer = client.post("/api/v1/withdrawals", headers=bearer(key),
                         json={"email": "MAIJA@example.fi", "reason": "pyysi puhelimessa"})
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "withdrawn", "channels": ["email", "sms"]}
    withdrawn = [e for e in events(container) if e.kind == "withdrawn"]
    assert {e.channel for e in withdrawn} == {"email", "sms"}
    (info,) = apikeys.list_keys(container.uow())
    assert {(e.actor_type, e.actor_id, e.method) for e in withdrawn} == {
        ("api_key", f"{info.id}:crm", "staff_on_request")}
    assert states(container)[(pid, "sms")] == "unsubscribed"
    entry = audit_entries(container)[-1]
    assert (entry.action, entry.contact_public_id) == ("withdrawal.request", pid)


def test_withdrawal_api_answers_alike_for_unknown_addresses(client: Any, container: Any) -> None:
    subscribe(container, "maija@example.fi")
    key = new_key(container, "crm", "staff")
    known = client.post("/api/v1/withdrawals", headers=bearer(key),
                        json={"email": "maija@example.fi"})
    unknown = client.post("/api/v1/withdrawals", headers=bearer(key),
                          json={"email": "nobody@example.fi"})
    by_id = client.post("/api/v1/withdrawals", headers=bearer(key),
                        json={"contact_id": "00000000-0000-4000-8000-000000000000"})
    assert known.status_code == unknown.status_code == by_id.status_code == 200
    assert known.get_json() == unknown.get_json() == by_id.get_json()


def test_withdrawal_api_names_bad_fields(client: Any, container: Any) -> None:
    answer = client.post("/api/v1/withdrawals", headers=bearer(new_key(container, "c", "staff")),
                         json={"channels": ["fax"]})
    assert answer.status_code == 422
    assert set(answer.get_json()["fields"]) == {"email", "channels"}


def test_openapi_describes_the_register_and_withdrawal_endpoints(client: Any) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "get" in paths["/api/v1/register"]
    assert "post" in paths["/api/v1/withdrawals"]
    assert {"401", "403"} <= set(paths["/api/v1/register"]["get"]["responses"])


def test_unsubscribe_path_helper_matches_what_the_api_hands_out(
    client: Any, container: Any
) -> None:
    pid = subscribe(container, "maija@example.fi")
    (item,) = client.get("/api/v1/register",
                         headers=bearer(new_key(container, "t"))).get_json()["items"]
    assert item["unsubscribe_url"].endswith(unsubscribe_path(container, pid))

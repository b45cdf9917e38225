"""Search words and looked-up addresses travel in bodies, and access logs hide what a URL holds."""

from __future__ import annotations

import http.client
import logging
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.register_support import audit_entries, new_key, states, subscribe, unsubscribe_path
from tests.staff_support import add_account, login, post_form


def test_staff_search_form_posts_its_words_so_they_stay_out_of_the_address(
    client: Any, container: Any
) -> None:
    pid = subscribe(container, "maija@example.fi", name="Maija Meikäläinen")
    add_account(container, "liisa")
    login(client, "liisa")
    page = client.get("/staff/contacts").get_data(as_text=True)
    assert '<form method="post" action="/staff/contacts" role="search">' in page
    found = post_form(client, "/staff/contacts", {"q": "meikäläinen"})
    assert found.status_code == 200 and "Location" not in found.headers
    assert pid in found.get_data(as_text=True)
    assert [e.action for e in audit_entries(container)].count("contact.search") == 1
    assert client.post("/staff/contacts", data={"q": "maija"}).status_code == 400, "needs CSRF"


def test_api_lookup_by_post_keeps_the_address_out_of_the_url(client: Any,
                                                            container: Any) -> None:
    pid = subscribe(container, "maija@example.fi")
    key = {"Authorization": f"Bearer {new_key(container, 'desk', 'staff')}"}
    by_json = client.post("/api/v1/contacts/lookup", json={"email": "Maija@example.fi"},
                          headers=key)
    assert by_json.status_code == 200 and by_json.get_json()["id"] == pid
    by_form = client.post("/api/v1/contacts/lookup", data={"email": "maija@example.fi"},
                          headers=key)
    assert by_form.get_json()["id"] == pid
    assert client.post("/api/v1/contacts/lookup", json={"email": "nobody@example.fi"},
                       headers=key).status_code == 404
    assert client.post("/api/v1/contacts/lookup", json={"email": ["x"]},
                       headers=key).status_code == 422
    assert client.post("/api/v1/contacts/lookup",
                       json={"email": "maija@example.fi"}).status_code == 401
    lookups = [e for e in audit_entries(container) if e.action == "contact.lookup"]
    assert len(lookups) == 3 and lookups[0].contact_public_id == pid
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "requestBody" in paths["/api/v1/contacts/lookup"]["post"]
    assert paths["/api/v1/contacts"]["get"]["deprecated"] is True


def test_the_access_log_hides_search_words_addresses_and_tokens_however_encoded(
    live_server: Any, container: Any, caplog: Any
) -> None:
    caplog.set_level(logging.INFO, logger="werkzeug")
    pid = subscribe(container, "maija@example.fi")
    path = unsubscribe_path(container, pid)
    token = path.rsplit("/", 1)[1]
    payload, signature = token.split(".")
    encoded = f"/unsubscribe/{payload}%2E{signature}"
    base = live_server.url
    # The server decodes the path: the encoded token is the same link, and it works. (Sent
    # with http.client: requests would decode %2E itself before sending.)
    where = urlsplit(base)
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
    connection.request("POST", encoded, body="List-Unsubscribe=One-Click",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert connection.getresponse().status == 200
    connection.close()
    assert states(container)[(pid, "email")] == "unsubscribed"
    requests.get(f"{base}/staff/contacts?q=maija%20meik", timeout=10, allow_redirects=False)
    requests.get(f"{base}/api/v1/contacts?email=maija%40example.fi", timeout=10)
    requests.post(f"{base}/webhooks/forms/site?%73ecret=hunter2hunter2", json={}, timeout=10)
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("POST /unsubscribe/[token] HTTP/1.1" in line for line in lines), lines
    logged = "\n".join(lines)
    for secret in (payload, signature, "maija", "hunter2"):
        assert secret not in logged, secret

"""Refused API calls cost the caller, not the service: throttled per address, audited sparingly."""

from __future__ import annotations

from typing import Any

from tests.register_support import audit_entries, new_key, subscribe


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def denied(container: Any) -> list[Any]:
    return [e for e in audit_entries(container) if e.action == "api.denied"]


def test_refused_api_calls_are_throttled_per_address_and_audited_once_a_minute(
    client: Any, container: Any
) -> None:
    codes = [client.get("/api/v1/register", headers=bearer(f"crk_guess{n}")).status_code
             for n in range(11)]
    assert codes == [401] * 10 + [429]
    assert "Retry-After" in client.get("/api/v1/register").headers
    # The register API and the staff API count refusals together.
    lookup = client.post("/api/v1/contacts/lookup", json={"email": "maija@example.fi"},
                         headers=bearer("crk_guess"))
    assert lookup.status_code == 429
    assert len(denied(container)) == 1, "one row stands for this address's refusals"
    assert client.get("/api/v1/register", headers=bearer("crk_guess"),
                      environ_base={"REMOTE_ADDR": "192.0.2.9"}).status_code == 401
    assert len(denied(container)) == 2


def test_calls_with_a_working_key_are_never_counted_as_refused(client: Any,
                                                               container: Any) -> None:
    subscribe(container, "maija@example.fi")
    key = bearer(new_key(container, "tool"))
    assert all(client.get("/api/v1/register", headers=key).status_code == 200
               for _ in range(15))

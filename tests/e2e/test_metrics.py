"""GET /metrics: Prometheus figures that move with the ledger, readable only by the monitoring."""

from __future__ import annotations

import email
import email.policy
import ipaddress
import re
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from service.domain import apikeys, rights
from service.domain.ledger import Actor
from service.domain.models import ActorType
from service.web import create_app
from tests.conftest import make_container
from tests.register_support import subscribe, unsubscribe_path

CONFIRM_LINK = re.compile(r"https://consent\.example\.fi(/confirm/[A-Za-z0-9_.\-]+)")


def _scrape(client: Any, key: str | None = None, **options: Any) -> dict[tuple[str, tuple[
        tuple[str, str], ...]], float]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    answer = client.get("/metrics", headers=headers, **options)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _confirm_path(outbox: Path) -> str:
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
        link = CONFIRM_LINK.search(body.get_content())
        if link:
            return link.group(1)
    raise AssertionError("no confirmation mail was written")


def test_figures_move_after_an_opt_in_a_confirmation_and_an_unsubscribe(
    container: Any, client: Any
) -> None:
    key = apikeys.create_key(container.uow(), "prometheus", "reader",
                             now=container.clock.now()).secret
    before = _scrape(client, key)

    answer = client.post("/api/v1/subscribe", json={"email": "maija@example.fi",
                                                    "consent": True})
    assert answer.status_code == 202
    queued = _scrape(client, key)
    assert _value(queued, "consent_outbox_items", kind="mail", status="pending") == \
        _value(before, "consent_outbox_items", kind="mail", status="pending") + 1
    container.worker().drain()
    confirm = _confirm_path(container.settings.outbox_dir)
    assert client.post(confirm).status_code == 200
    found = rights.find_by_email(container.uow(), container.deps, "maija@example.fi",
                                 Actor(ActorType.SYSTEM, "test"), ip=None)
    assert found is not None
    one_click = unsubscribe_path(container, found["id"])
    assert client.post(one_click, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    after = _scrape(client, key)

    def moved(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert moved("consent_optins_total", channel="email", method="web_form",
                 kind="requested") == 1
    assert moved("consent_confirmations_total", channel="email", method="confirmation_link",
                 kind="confirmed") == 1
    assert moved("consent_withdrawals_total", channel="email", method="one_click",
                 kind="withdrawn") == 1
    assert _value(after, "consent_subscriptions", channel="email", state="unsubscribed") == 1
    assert _value(after, "consent_database_up") == 1
    assert moved("consent_http_request_duration_seconds_count", route="/api/v1/subscribe",
                 method="POST", status="202") == 1
    # Latency is labelled by the URL rule: no personal link's token ever reaches the metrics.
    assert moved("consent_http_request_duration_seconds_count", route="/unsubscribe/<token>",
                 method="POST", status="200") == 1
    text = client.get("/metrics", headers={"Authorization": f"Bearer {key}"}).get_data(
        as_text=True)
    assert one_click not in text and confirm not in text and "maija" not in text
    assert ("consent_outbox_oldest_waiting_seconds", (("kind", "mail"),)) in after
    assert ("consent_delivery_failures_total", (("kind", "mail"),)) in after
    assert ("consent_mirror_lag_seconds", ()) in after


def test_rate_limit_refusals_are_counted_by_route(container: Any, client: Any) -> None:
    key = apikeys.create_key(container.uow(), "prometheus", "reader",
                             now=container.clock.now()).secret
    route = "/unsubscribe/<token>"
    before = _value(_scrape(client, key), "consent_rate_limited_total", route=route)
    link = unsubscribe_path(container, subscribe(container, "a@example.fi"))
    answers = [client.post(link, data={"List-Unsubscribe": "One-Click"}).status_code
               for _ in range(11)]
    assert answers[-1] == 429
    assert _value(_scrape(client, key), "consent_rate_limited_total", route=route) == before + 1


def test_metrics_are_refused_without_a_key_and_from_outside_the_configured_network(
    settings: Any, clock: Any
) -> None:
    container = make_container(settings, clock,
                               metrics_networks=(ipaddress.ip_network("10.20.0.0/16"),))
    try:
        app = create_app(container=container)
        client = app.test_client()
        nobody = client.get("/metrics")
        assert nobody.status_code == 401
        assert nobody.headers["WWW-Authenticate"].startswith("Bearer")
        assert "consent_" not in nobody.get_data(as_text=True)
        assert client.get("/metrics", headers={"Authorization": "Bearer crk_guess"}
                          ).status_code == 401
        outside = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.21.0.5"})
        assert outside.status_code == 401
        inside = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.20.3.4"})
        assert inside.status_code == 200 and "consent_database_up 1.0" in inside.get_data(
            as_text=True)
        issued = apikeys.create_key(container.uow(), "old", "reader", now=clock.now())
        assert client.get("/metrics", headers={"Authorization": f"Bearer {issued.secret}"}
                          ).status_code == 200
        apikeys.revoke_key(container.uow(), "old", now=clock.now())
        assert client.get("/metrics", headers={"Authorization": f"Bearer {issued.secret}"}
                          ).status_code == 403
    finally:
        container.close()

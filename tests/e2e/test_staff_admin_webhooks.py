"""Admin pages for webhooks: form sources in, endpoints out, and each delivery's attempts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from service.domain.models import Subscription, WebhookEndpoint
from tests.integration.test_webhooks_outbound import Receiver
from tests.staff_support import add_account, audit_actions, enrol_and_login, login, post_form

ADMIN_PAGES = ("/staff/admin/sources", "/staff/admin/webhooks")


def admin_client(app: Any, container: Any, clock: Any) -> Any:
    add_account(container, "omistaja", admin=True)
    client = app.test_client()
    enrol_and_login(client, clock, "omistaja")
    return client


def shown(page: Any, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]+)<', page.get_data(as_text=True))
    assert found, f"the page shows no #{element_id}"
    return found.group(1)


def add_cf7_source(client: Any) -> tuple[str, str]:
    """Add a Contact Form 7 source on the page; return its URL path and secret."""
    page = post_form(client, "/staff/admin/sources",
                     {"name": "yhteydenotto", "kind": "cf7", "mapping": "consent=uutiskirje",
                      "notice": "1", "opt_in": "single", "channels": ["email"]})
    assert page.status_code == 200, page.get_data(as_text=True)
    url = shown(page, "new-url")
    assert url == "https://consent.example.fi/webhooks/forms/yhteydenotto"
    return url.removeprefix("https://consent.example.fi"), shown(page, "new-secret")


def cf7_post(client: Any, path: str, secret: str, email: str) -> Any:
    return client.post(path, headers={"X-Consent-Secret": secret},
                       data={"your-email": email, "your-name": "Maija", "uutiskirje": "1"})


def states(container: Any) -> list[str]:
    with container.session_factory() as session:
        return list(session.scalars(select(Subscription.state)))


@pytest.fixture
def receiver(container: Any) -> Iterator[Receiver]:
    server = Receiver()
    server.now = int(container.clock.now().timestamp())
    yield server
    server.stop()


def test_admin_adds_a_source_whose_secret_records_a_form_post(app: Any, container: Any,
                                                              clock: Any) -> None:
    client = admin_client(app, container, clock)
    before = audit_actions(container)
    path, secret = add_cf7_source(client)
    assert audit_actions(container)[len(before):] == ["source.add"]
    listing = client.get("/staff/admin/sources").get_data(as_text=True)
    assert "yhteydenotto" in listing and "consent=uutiskirje" in listing
    assert secret not in listing  # shown once only
    visitor = app.test_client()
    answer = cf7_post(visitor, path, secret, "maija@example.fi")
    assert answer.status_code == 200 and answer.get_json()["status"] == "subscribed"
    assert states(container) == ["subscribed"]
    assert cf7_post(visitor, path, "wrong-secret", "pekka@example.fi").status_code == 401


def test_a_rotated_source_secret_replaces_the_old_one_at_once(app: Any, container: Any,
                                                              clock: Any) -> None:
    client = admin_client(app, container, clock)
    path, old = add_cf7_source(client)
    page = post_form(client, "/staff/admin/sources/yhteydenotto/rotate", {"confirm": "yes"})
    new = shown(page, "new-secret")
    assert new != old and audit_actions(container)[-1] == "source.rotate"
    visitor = app.test_client()
    assert cf7_post(visitor, path, old, "maija@example.fi").status_code == 401
    assert cf7_post(visitor, path, new, "maija@example.fi").status_code == 200


def test_a_removed_source_stops_answering(app: Any, container: Any, clock: Any) -> None:
    client = admin_client(app, container, clock)
    path, secret = add_cf7_source(client)
    removed = post_form(client, "/staff/admin/sources/yhteydenotto/remove", {"confirm": "yes"})
    assert removed.status_code == 302 and audit_actions(container)[-1] == "source.remove"
    assert cf7_post(app.test_client(), path, secret, "maija@example.fi").status_code == 401
    assert states(container) == []


def test_a_source_the_service_cannot_use_is_named_on_the_page(app: Any, container: Any,
                                                              clock: Any) -> None:
    client = admin_client(app, container, clock)
    page = post_form(client, "/staff/admin/sources",
                     {"name": "lomake", "kind": "gravityforms", "opt_in": "default"})
    assert page.status_code == 422 and "Gravity Forms sends field ids" in page.get_data(
        as_text=True)
    assert "source.add" not in audit_actions(container)


def test_staff_who_are_not_admins_get_403_and_the_logged_out_the_login(
    app: Any, container: Any, clock: Any
) -> None:
    admin = admin_client(app, container, clock)
    add_account(container, "liisa")
    liisa = app.test_client()
    login(liisa, "liisa")
    nav = liisa.get("/staff/contacts").get_data(as_text=True)
    assert "/staff/admin/sources" not in nav and "/staff/admin/webhooks" not in nav
    assert "/staff/admin/webhooks" in admin.get("/staff/contacts").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', nav)
    assert token
    for path in ADMIN_PAGES:
        assert liisa.get(path).status_code == 403
        assert liisa.post(path, data={"csrf_token": token.group(1), "name": "x",
                                      "kind": "generic", "url": "https://x.example/"}
                          ).status_code == 403
        assert app.test_client().get(path).status_code == 302
    assert liisa.get("/staff/admin/webhooks/1/deliveries").status_code == 403
    assert liisa.post("/staff/admin/webhooks/deliveries/1/redeliver",
                      data={"csrf_token": token.group(1)}).status_code == 403
    with container.session_factory() as session:
        assert session.scalars(select(WebhookEndpoint)).all() == []


def test_admin_forms_without_their_csrf_token_are_refused(app: Any, container: Any,
                                                          clock: Any) -> None:
    client = admin_client(app, container, clock)
    refused = client.post("/staff/admin/sources", data={"name": "lomake", "kind": "generic"})
    assert refused.status_code == 400
    refused = client.post("/staff/admin/webhooks", data={"url": "https://crm.example.fi/hook",
                                                          "events": ["consent.withdrawn"]})
    assert refused.status_code == 400
    assert "source.add" not in audit_actions(container)
    assert "webhook.add" not in audit_actions(container)


def test_a_loopback_endpoint_needs_the_admin_to_allow_private_addresses(
    app: Any, container: Any, clock: Any, receiver: Receiver
) -> None:
    client = admin_client(app, container, clock)
    refused = post_form(client, "/staff/admin/webhooks",
                        {"url": receiver.url, "events": ["consent.requested"]})
    assert refused.status_code == 422 and "loopback" in refused.get_data(as_text=True)
    added = post_form(client, "/staff/admin/webhooks",
                      {"url": receiver.url, "events": ["consent.requested"],
                       "allow_private": "yes"})
    assert added.status_code == 200 and shown(added, "new-secret").startswith("whsec_")
    assert audit_actions(container).count("webhook.add") == 1


def test_admin_sees_each_attempt_and_a_redelivery_reaches_the_receiver(
    app: Any, container: Any, clock: Any, receiver: Receiver
) -> None:
    client = admin_client(app, container, clock)
    added = post_form(client, "/staff/admin/webhooks",
                      {"url": receiver.url, "events": ["consent.requested"],
                       "allow_private": "yes"})
    receiver.secret = shown(added, "new-secret")
    with container.session_factory() as session:
        endpoint_id = session.scalars(select(WebhookEndpoint.id)).one()
    receiver.replies = [(500, {}, 0.0)]
    app.test_client().post("/api/v1/subscribe", json={"email": "maija@example.fi",
                                                       "consent": True})
    container.worker().drain()
    page = client.get(f"/staff/admin/webhooks/{endpoint_id}/deliveries")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "consent.requested" in text and "HTTP 500" in text and ">pending<" in text
    delivery_id = re.search(r"/staff/admin/webhooks/deliveries/(\d+)/redeliver", text)
    assert delivery_id

    before = audit_actions(container)
    again = post_form(client, f"/staff/admin/webhooks/deliveries/{delivery_id.group(1)}"
                              "/redeliver", {}, page=f"/staff/admin/webhooks/{endpoint_id}"
                                                     "/deliveries")
    assert again.status_code == 302
    assert audit_actions(container)[len(before):] == ["webhook.redeliver"]
    container.worker().drain()
    first, second = receiver.received
    assert first["id"] == second["id"] and second["status"] == 200
    text = client.get(f"/staff/admin/webhooks/{endpoint_id}/deliveries").get_data(as_text=True)
    assert "HTTP 500" in text and "HTTP 200" in text and ">delivered<" in text


def test_a_disabled_endpoint_gets_nothing_until_enabled_and_a_deleted_one_is_gone(
    app: Any, container: Any, clock: Any, receiver: Receiver
) -> None:
    client = admin_client(app, container, clock)
    added = post_form(client, "/staff/admin/webhooks",
                      {"url": receiver.url, "events": ["consent.requested"],
                       "allow_private": "yes"})
    receiver.secret = shown(added, "new-secret")
    with container.session_factory() as session:
        endpoint_id = session.scalars(select(WebhookEndpoint.id)).one()
    base = f"/staff/admin/webhooks/{endpoint_id}"
    post_form(client, f"{base}/disable", {"confirm": "yes"})
    assert "disabled by an admin" in client.get("/staff/admin/webhooks").get_data(as_text=True)
    visitor = app.test_client()
    visitor.post("/api/v1/subscribe", json={"email": "maija@example.fi", "consent": True})
    container.worker().drain()
    assert receiver.received == []
    post_form(client, f"{base}/enable", {}, page="/staff/admin/webhooks")
    visitor.post("/api/v1/subscribe", json={"email": "pekka@example.fi", "consent": True})
    container.worker().drain()
    assert [r["body"]["type"] for r in receiver.received] == ["consent.requested"]

    rotated = post_form(client, f"{base}/rotate", {"confirm": "yes"})
    assert shown(rotated, "new-secret").startswith("whsec_")
    deleted = post_form(client, f"{base}/delete", {"confirm": "yes"})
    assert deleted.status_code == 302
    assert client.get(f"{base}/deliveries").status_code == 404
    assert audit_actions(container)[-4:] == ["webhook.disable", "webhook.enable",
                                             "webhook.rotate", "webhook.delete"]


def test_the_webhook_admin_pages_speak_finnish_and_english(app: Any, container: Any,
                                                           clock: Any) -> None:
    client = admin_client(app, container, clock)
    finnish = client.get("/staff/admin/sources").get_data(as_text=True)
    assert "Lomakelähteet ja sähköpostipalvelut" in finnish
    english = client.get("/staff/admin/sources?lang=en").get_data(as_text=True)
    assert "Form sources and mail providers" in english
    add_cf7_source(client)
    assert "Paste these into the plugin" in post_form(
        client, "/staff/admin/sources/yhteydenotto/rotate", {"confirm": "yes"}).get_data(
        as_text=True)
    post_form(client, "/staff/admin/webhooks", {"url": "http://127.0.0.1:9/hook",
                                                "events": ["consent.withdrawn"],
                                                "allow_private": "yes"})
    webhooks = client.get("/staff/admin/webhooks").get_data(as_text=True)
    assert "Webhooks to other systems" in webhooks and "Deliveries" in webhooks
    with container.session_factory() as session:
        endpoint_id = session.scalars(select(WebhookEndpoint.id)).one()
    deliveries = client.get(f"/staff/admin/webhooks/{endpoint_id}/deliveries")
    assert "No deliveries." in deliveries.get_data(as_text=True)


def test_removing_a_source_asks_first_saying_the_website_stops_feeding_the_register(
    app: Any, container: Any, clock: Any
) -> None:
    client = admin_client(app, container, clock)
    path, secret = add_cf7_source(client)
    asked = client.get("/staff/admin/sources/yhteydenotto/remove").get_data(as_text=True)
    assert "Poistetaanko lähde ”yhteydenotto”?" in asked
    assert "lakkaa heti tuomasta lupia ja peruutuksia rekisteriin" in asked
    assert "https://consent.example.fi/webhooks/forms/yhteydenotto" in asked
    refused = post_form(client, "/staff/admin/sources/yhteydenotto/remove", {})
    assert refused.status_code == 422 and "source.remove" not in audit_actions(container)
    assert cf7_post(app.test_client(), path, secret, "maija@example.fi").status_code == 200
    post_form(client, "/staff/admin/sources/yhteydenotto/remove", {"confirm": "yes"})
    listing = client.get("/staff/admin/sources").get_data(as_text=True)
    assert "Lähde ”yhteydenotto” on poistettu: verkkosivujen lomake ei enää tuo lupia" in listing


def test_rotating_a_source_secret_asks_first_and_says_the_old_one_stopped(
    app: Any, container: Any, clock: Any
) -> None:
    client = admin_client(app, container, clock)
    path, old = add_cf7_source(client)
    asked = client.get("/staff/admin/sources/yhteydenotto/rotate").get_data(as_text=True)
    assert "Vaihdetaanko lähteen ”yhteydenotto” salaisuus?" in asked
    assert cf7_post(app.test_client(), path, old, "maija@example.fi").status_code == 200
    done = post_form(client, "/staff/admin/sources/yhteydenotto/rotate", {"confirm": "yes"})
    assert "Lähteen ”yhteydenotto” salaisuus on vaihdettu; vanha ei enää toimi." in (
        done.get_data(as_text=True))


def test_endpoint_actions_ask_first_naming_the_address_and_say_what_was_done(
    app: Any, container: Any, clock: Any
) -> None:
    client = admin_client(app, container, clock)
    url = "http://127.0.0.1:9/hook"
    post_form(client, "/staff/admin/webhooks", {"url": url, "events": ["consent.withdrawn"],
                                                "allow_private": "yes"})
    with container.session_factory() as session:
        endpoint_id = session.scalars(select(WebhookEndpoint.id)).one()
    base = f"/staff/admin/webhooks/{endpoint_id}"
    asked = client.get(f"{base}/delete").get_data(as_text=True)
    assert f"Poistetaanko osoite {url} historioineen?" in asked and "ei voi perua" in asked
    assert post_form(client, f"{base}/delete", {}).status_code == 422
    assert client.get(f"{base}/deliveries").status_code == 200, "nothing deleted yet"
    assert f"Poistetaanko osoite {url} käytöstä?" in client.get(f"{base}/disable").get_data(
        as_text=True)
    rotated = post_form(client, f"{base}/rotate", {"confirm": "yes", "drop_old": "yes"})
    assert f"Osoitteelle {url} on luotu uusi allekirjoitusavain; vanha ei enää kelpaa." in (
        rotated.get_data(as_text=True))
    post_form(client, f"{base}/delete", {"confirm": "yes"})
    assert f"Osoite {url} ja sen lähetyshistoria on poistettu." in client.get(
        "/staff/admin/webhooks").get_data(as_text=True)
    assert audit_actions(container)[-2:] == ["webhook.rotate", "webhook.delete"]

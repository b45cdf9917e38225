"""The consent source and consent webhook commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from service.cli import main
from service.domain import sources, webhooks_out
from service.domain.models import OutboxItem
from service.domain.webhooks_out.delivery import DELIVERY_KIND


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"CONSENT_DATABASE_URL": database_url, "CONSENT_DATA_DIR": str(tmp_path / "data"),
            "CONSENT_SECRET_KEYS": "test-key-0123456789abcdef",
            "CONSENT_PUBLIC_URL": "https://consent.example.fi"}


def test_source_add_prints_the_url_and_secret_once_then_list_and_remove(
    database_url: str, tmp_path: Path, container: Any
) -> None:
    runner = CliRunner(env=_env(database_url, tmp_path))
    added = runner.invoke(main, ["source", "add", "site", "--kind", "cf7",
                                 "--map", "consent=uutiskirje", "--single-opt-in"])
    assert added.exit_code == 0, added.output
    assert "https://consent.example.fi/webhooks/forms/site" in added.output
    token = added.output.split("secret (shown once):")[1].split()[0]
    [source] = sources.list_sources(container.uow())
    assert sources.token_matches(source, [token])
    listed = runner.invoke(main, ["source", "list"])
    assert "site\tcf7\topt-in=single" in listed.output and token not in listed.output
    assert "consent=uutiskirje" in listed.output
    refused = runner.invoke(main, ["source", "add", "pm", "--kind", "postmark"])
    assert refused.exit_code != 0 and "named after its provider" in refused.output
    assert runner.invoke(main, ["source", "remove", "site"]).exit_code == 0
    assert sources.list_sources(container.uow()) == []


def test_webhook_add_refuses_loopback_unless_allowed_and_lists_and_removes(
    database_url: str, tmp_path: Path, container: Any
) -> None:
    runner = CliRunner(env=_env(database_url, tmp_path))
    refused = runner.invoke(main, ["webhook", "add", "http://127.0.0.1:9000/hook",
                                   "--events", "consent.withdrawn"])
    assert refused.exit_code != 0 and "loopback" in refused.output
    added = runner.invoke(main, ["webhook", "add", "http://127.0.0.1:9000/hook",
                                 "--events", "consent.withdrawn,address.bounced",
                                 "--allow-private"])
    assert added.exit_code == 0, added.output
    assert "whsec_" in added.output
    listed = runner.invoke(main, ["webhook", "list"])
    assert "http://127.0.0.1:9000/hook\tactive\tconsent.withdrawn,address.bounced" \
        in listed.output
    [endpoint] = webhooks_out.list_endpoints(container.uow())
    assert runner.invoke(main, ["webhook", "remove", str(endpoint.id)]).exit_code == 0
    assert "disabled (removed by an admin)" in runner.invoke(main, ["webhook", "list"]).output
    unknown = runner.invoke(main, ["webhook", "add", "https://x.example/", "--events", "nope"])
    assert unknown.exit_code != 0 and "unknown event" in unknown.output


def test_webhook_deliveries_shows_attempts_and_redeliver_queues_again(
    database_url: str, tmp_path: Path, container: Any, client: Any
) -> None:
    runner = CliRunner(env=_env(database_url, tmp_path))
    runner.invoke(main, ["webhook", "add", "http://127.0.0.1:9/hook", "--events", "all",
                         "--allow-private"])
    client.post("/api/v1/subscribe", json={"email": "maija@example.fi", "consent": True})
    container.worker().drain()  # port 9 refuses: the attempt fails and is recorded
    shown = runner.invoke(main, ["webhook", "deliveries"])
    assert "consent.requested\tpending" in shown.output and "could not connect" in shown.output
    [delivery] = webhooks_out.list_deliveries(container.uow())
    again = runner.invoke(main, ["webhook", "redeliver", str(delivery.id)])
    assert again.exit_code == 0 and delivery.message_id in again.output
    with container.session_factory() as session:
        keys = session.scalars(select(OutboxItem.idempotency_key).where(
            OutboxItem.kind == DELIVERY_KIND)).all()
    assert any(k.startswith(f"webhook:{delivery.id}:again:") for k in keys)


def test_source_rotate_prints_a_new_secret_and_the_old_one_stops_working(
    database_url: str, tmp_path: Path, container: Any
) -> None:
    runner = CliRunner(env=_env(database_url, tmp_path))
    added = runner.invoke(main, ["source", "add", "site", "--kind", "generic"])
    old = added.output.split("secret (shown once):")[1].split()[0]
    rotated = runner.invoke(main, ["source", "rotate", "site"])
    assert rotated.exit_code == 0, rotated.output
    new = rotated.output.split("(shown once):")[1].split()[0]
    [source] = sources.list_sources(container.uow())
    assert sources.token_matches(source, [new]) and not sources.token_matches(source, [old])
    signed = runner.invoke(main, ["source", "add", "ses", "--kind", "ses", "--topic-arn",
                                  "arn:aws:sns:eu-north-1:123456789012:ses"])
    assert signed.exit_code == 0
    refused = runner.invoke(main, ["source", "rotate", "ses"])
    assert refused.exit_code != 0 and "own signature" in refused.output

"""An opt-in records the notice version shown, or the current one, though versions are cached."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from service.domain import notices
from service.domain.ledger import Actor
from service.domain.models import ActorType, ConsentEvent

ADMIN = Actor(ActorType.STAFF, "1")


def recorded_versions(container: Any) -> list[tuple[int | None, str | None]]:
    with container.session_factory() as session:
        rows = session.execute(select(ConsentEvent.notice_version, ConsentEvent.notice_language)
                               .order_by(ConsentEvent.id))
        return [(version, language) for version, language in rows]


def test_an_opt_in_naming_no_notice_records_a_version_published_just_before(
    client: Any, container: Any
) -> None:
    assert client.post("/api/v1/subscribe",
                       json={"email": "eka@example.fi", "consent": True}).status_code == 202
    version = notices.publish(container.uow(), container.deps,
                              {"fi": "Uusi teksti.", "en": "New wording."}, ADMIN, ip=None)
    assert client.post("/api/v1/subscribe", json={
        "email": "toka@example.fi", "consent": True, "language": "en"}).status_code == 202
    assert recorded_versions(container) == [(version - 1, "fi"), (version, "en")]


def test_a_notice_version_not_yet_published_is_refused_and_accepted_once_it_is(
    client: Any, container: Any
) -> None:
    first = client.post("/api/v1/subscribe",
                        json={"email": "eka@example.fi", "consent": True, "notice": 2})
    assert first.status_code == 422
    assert "notice" in first.get_json()["fields"]
    version = notices.publish(container.uow(), container.deps, {"fi": "Toinen versio."}, ADMIN,
                              ip=None)
    assert version == 2
    again = client.post("/api/v1/subscribe", json={
        "email": "eka@example.fi", "consent": True, "notice": 2, "language": "sv"})
    assert again.status_code == 202
    # Version 2 exists only in Finnish: that is what the person was shown.
    assert recorded_versions(container) == [(2, "fi")]

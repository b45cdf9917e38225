"""A recipient leaves the register through the signed link: pages, one-click POSTs, undo."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import requests

from service.domain.tokens import Purpose, TokenService
from service.web import create_app
from tests.conftest import make_container
from tests.register_support import events, evidence, snapshot, states, subscribe, unsubscribe_path


def test_get_on_unsubscribe_link_changes_nothing(client: Any, container: Any) -> None:
    pid = subscribe(container, "maija@example.fi")
    before = snapshot(container)
    page = client.get(unsubscribe_path(container, pid))
    assert page.status_code == 200
    assert "m***@example.fi" in page.text
    assert "maija@example.fi" not in page.text
    assert '<form method="post">' in page.text
    assert "Peru tilaus" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert snapshot(container) == before


def test_head_on_unsubscribe_link_changes_nothing(client: Any, container: Any) -> None:
    pid = subscribe(container, "maija@example.fi")
    before = snapshot(container)
    answer = client.head(unsubscribe_path(container, pid))
    assert answer.status_code == 200
    assert answer.data == b""
    assert snapshot(container) == before


@pytest.mark.parametrize(("language", "words"), [
    ("fi", "Peru tilaus"), ("sv", "Avsluta prenumerationen"), ("en", "Unsubscribe"),
])
def test_unsubscribe_page_speaks_the_contacts_language(
    client: Any, container: Any, language: str, words: str
) -> None:
    pid = subscribe(container, "maija@example.fi", language=language)
    page = client.get(unsubscribe_path(container, pid), headers={"Accept-Language": "de"})
    assert f'<html lang="{language}">' in page.text
    assert words in page.text


def test_pressing_the_button_withdraws_at_once_and_answers_200_without_redirect(
    client: Any, container: Any
) -> None:
    pid = subscribe(container, "maija@example.fi")
    answer = client.post(unsubscribe_path(container, pid), headers={"User-Agent": "Selain/1"})
    assert answer.status_code == 200
    assert "Location" not in answer.headers
    assert "Tilaus on peruttu" in answer.text
    assert states(container)[(pid, "email")] == "unsubscribed"
    withdrawal = events(container)[-1]
    assert (withdrawal.kind, withdrawal.method) == ("withdrawn", "unsubscribe_page")
    assert evidence(container)[-1].user_agent == "Selain/1"
    # The answer offers a reason, and an undo button of its own purpose.
    assert 'name="reason"' in answer.text
    assert "/resubscribe/" in answer.text


def test_second_post_changes_nothing_more(client: Any, container: Any) -> None:
    pid = subscribe(container, "maija@example.fi")
    path = unsubscribe_path(container, pid)
    assert client.post(path).status_code == 200
    after_first = snapshot(container)
    again = client.post(path)
    assert again.status_code == 200
    assert "Tilaus on peruttu" in again.text
    assert snapshot(container) == after_first


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_mail_client_one_click_post_without_cookies_withdraws(
    live_server: Any, container: Any, encoding: str
) -> None:
    pid = subscribe(container, "maija@example.fi")
    url = live_server.url + unsubscribe_path(container, pid)
    if encoding == "urlencoded":
        answer = requests.post(url, data="List-Unsubscribe=One-Click", timeout=10, headers={
            "Content-Type": "application/x-www-form-urlencoded"}, allow_redirects=False)
    else:
        answer = requests.post(url, files={"List-Unsubscribe": (None, "One-Click")},
                               timeout=10, allow_redirects=False)
    assert answer.status_code == 200
    assert "Set-Cookie" not in answer.headers
    assert states(container)[(pid, "email")] == "unsubscribed"
    assert events(container)[-1].method == "one_click"


def test_one_click_posts_are_limited_per_link_not_per_address(
    client: Any, container: Any
) -> None:
    first = unsubscribe_path(container, subscribe(container, "a@example.fi"))
    second = unsubscribe_path(container, subscribe(container, "b@example.fi"))
    answers = [client.post(first, data={"List-Unsubscribe": "One-Click"}).status_code
               for _ in range(11)]
    assert answers[:10] == [200] * 10 and answers[10] == 429
    assert client.post(second, data={"List-Unsubscribe": "One-Click"}).status_code == 200


def test_made_up_tokens_leave_no_counters_behind_and_are_throttled_per_address(
    app: Any, client: Any, container: Any
) -> None:
    storage = app.extensions["consent.ratelimit"].storage
    before = len(storage)
    made_up = [f"{secrets.token_urlsafe(24)}.{secrets.token_urlsafe(20)}" for _ in range(11)]
    codes = [client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}
                         ).status_code for token in made_up]
    assert codes == [404] * 10 + [429], "a guesser is slowed down per address"
    # Two counters (this address's minute and day), not two for each made-up token.
    assert len(storage) - before == 2
    elsewhere = client.post(f"/unsubscribe/{made_up[0]}", environ_base={
        "REMOTE_ADDR": "192.0.2.7"})
    assert elsewhere.status_code == 404
    # A genuine link is counted on its own: a throttled address may still use it.
    pid = subscribe(container, "maija@example.fi")
    assert client.post(unsubscribe_path(container, pid)).status_code == 200
    assert states(container)[(pid, "email")] == "unsubscribed"


def _bad_tokens(container: Any, pid: str, other_pid: str) -> dict[str, str]:
    good = unsubscribe_path(container, pid).rsplit("/", 1)[1]
    other = unsubscribe_path(container, other_pid).rsplit("/", 1)[1]
    payload, signature = good.split(".")
    other_payload, _ = other.split(".")
    flipped = ("B" if payload[3] != "B" else "C")
    stranger = TokenService(["a-key-nobody-here-knows-0123"], container.clock)
    return {
        "tampered": payload[:3] + flipped + payload[4:] + "." + signature,
        "truncated": good[:-4],
        "other contact": other_payload + "." + signature,
        "other purpose": container.deps.tokens.sign(
            Purpose.CONFIRM, {"c": pid, "r": 1, "ch": ["email"]}),
        "undo purpose": container.deps.tokens.sign(Purpose.RESUBSCRIBE, {"c": pid, "e": [1]}),
        "unknown key": stranger.sign(Purpose.UNSUBSCRIBE, {"c": pid, "ch": "email"}),
        "unknown contact": container.deps.tokens.sign(
            Purpose.UNSUBSCRIBE, {"c": "00000000-0000-4000-8000-000000000000", "ch": "email"}),
        "garbage": "not-a-token",
    }


def test_bad_links_change_nothing_and_all_get_the_same_page(client: Any, container: Any) -> None:
    pid = subscribe(container, "maija@example.fi")
    other = subscribe(container, "pekka@example.fi")
    before = snapshot(container)
    pages = set()
    for kind, token in _bad_tokens(container, pid, other).items():
        for method in ("get", "post"):
            answer = getattr(client, method)(f"/unsubscribe/{token}",
                                             data={"List-Unsubscribe": "One-Click"}
                                             if method == "post" else None)
            assert answer.status_code == 404, kind
            assert "/unsubscribe?lang=fi" in answer.text, "offers to mail a fresh link"
            assert "Tilaus on peruttu" not in answer.text, "never a fake success"
            pages.add(answer.text)
    assert len(pages) == 1
    assert snapshot(container) == before


def test_links_signed_before_a_key_rotation_still_work_after_it(
    settings: Any, clock: Any
) -> None:
    old = make_container(settings, clock, secret_keys=("old-key-0123456789abcdef",))
    pid = subscribe(old, "maija@example.fi")
    path = unsubscribe_path(old, pid)
    old.close()
    rotated = make_container(
        settings, clock, secret_keys=("old-key-0123456789abcdef", "new-key-0123456789abcdef"))
    try:
        client = create_app(container=rotated).test_client()
        assert path != unsubscribe_path(rotated, pid), "the new key signs new links"
        assert client.post(path).status_code == 200
        assert states(rotated)[(pid, "email")] == "unsubscribed"
    finally:
        rotated.close()


def test_the_reason_is_stored_with_the_withdrawal(client: Any, container: Any) -> None:
    pid = subscribe(container, "maija@example.fi", language="en")
    path = unsubscribe_path(container, pid)
    client.post(path)
    thanks = client.post(path + "/reason", data={"reason": "not_relevant", "text": "Muutin."})
    assert thanks.status_code == 200
    assert "Thank you for telling us" in thanks.text
    assert evidence(container)[-1].note == "reason: not_relevant\nMuutin."
    assert events(container)[-1].kind == "withdrawn"


def test_leaving_every_channel_from_the_link_page(client: Any, container: Any) -> None:
    pid = subscribe(container, "maija@example.fi", channels=("email", "sms"),
                    phone="+358401234567")
    path = unsubscribe_path(container, pid)
    assert f"{path}/all" in client.get(path).text
    assert states(container)[(pid, "sms")] == "subscribed"
    assert client.post(path + "/all").status_code == 200
    assert states(container)[(pid, "email")] == states(container)[(pid, "sms")] == "unsubscribed"


def test_the_answer_page_stops_the_text_messages_still_sent(client: Any,
                                                             container: Any) -> None:
    pid = subscribe(container, "maija@example.fi", channels=("email", "sms"),
                    phone="+358401234567")
    path = unsubscribe_path(container, pid)
    answer = client.post(path)
    assert "Saat meiltä vielä" in answer.text
    assert "Tekstiviestejä numeroon +358 *** **67" in answer.text
    assert '<input type="hidden" name="channel" value="sms">' in answer.text
    assert states(container)[(pid, "sms")] == "subscribed"
    stopped = client.post(path, data={"channel": "sms"})
    assert "Tekstiviestejä numeroon" not in stopped.text
    assert states(container)[(pid, "sms")] == "unsubscribed"


def test_i_changed_my_mind_subscribes_again_with_its_own_short_lived_link(
    client: Any, container: Any
) -> None:
    import re

    pid = subscribe(container, "maija@example.fi")
    answer = client.post(unsubscribe_path(container, pid))
    undo = re.search(r'action="(/resubscribe/[^"]+)"', answer.text)
    assert undo
    before = snapshot(container)
    assert client.get(undo.group(1)).status_code == 200
    assert snapshot(container) == before, "a GET on the undo link changes nothing"
    back = client.post(undo.group(1))
    assert back.status_code == 200
    assert "Tervetuloa takaisin" in back.text
    assert states(container)[(pid, "email")] == "subscribed"
    assert (events(container)[-1].kind, events(container)[-1].method) == ("granted", "undo_link")


def test_the_undo_link_cannot_be_used_to_unsubscribe_nor_the_unsubscribe_link_to_undo(
    client: Any, container: Any
) -> None:
    pid = subscribe(container, "maija@example.fi")
    token = unsubscribe_path(container, pid).rsplit("/", 1)[1]
    assert client.post(f"/resubscribe/{token}").status_code == 404
    assert states(container)[(pid, "email")] == "subscribed"


def test_send_me_my_link_answers_the_same_for_known_and_unknown_addresses(
    client: Any, container: Any
) -> None:
    subscribe(container, "maija@example.fi")
    form = client.get("/unsubscribe?lang=sv")
    assert form.status_code == 200 and 'name="email"' in form.text
    known = client.post("/unsubscribe?lang=sv", data={"email": "maija@example.fi"})
    unknown = client.post("/unsubscribe?lang=sv", data={"email": "nobody@example.fi"})
    assert known.status_code == unknown.status_code == 202
    assert known.text == unknown.text
    assert "Titta i din e-post" in known.text
    container.worker().drain()
    sent = list(container.settings.outbox_dir.glob("*.eml"))
    assert len(sent) == 1
    raw = sent[0].read_bytes()
    assert b"List-Unsubscribe: <https://consent.example.fi/unsubscribe/" in raw
    assert b"nobody@example.fi" not in raw


def test_send_me_my_link_is_rate_limited_per_address(settings: Any, clock: Any) -> None:
    limited = make_container(settings, clock, optin_rate_limit="2/minute")
    try:
        client = create_app(container=limited).test_client()
        codes = [client.post("/unsubscribe", data={"email": f"x{i}@example.fi"}).status_code
                 for i in range(3)]
        assert codes == [202, 202, 429]
    finally:
        limited.close()


def test_made_up_dispute_tokens_leave_no_counters_behind(app: Any, client: Any) -> None:
    storage = app.extensions["consent.ratelimit"].storage
    before = len(storage)
    for _ in range(5):
        token = f"{secrets.token_urlsafe(24)}.{secrets.token_urlsafe(20)}"
        assert client.post(f"/dispute/{token}").status_code == 404
    assert len(storage) - before == 2

"""Mail leaves through the outbox: nothing sent before commit, nothing lost when SMTP fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from sqlalchemy import select

from service.bootstrap import SystemClock
from service.domain.models import OutboxItem
from tests.conftest import make_container
from tests.register_support import readiness_details
from tests.smtp_sink import SmtpSink

GOOD = {"email": "maija@example.fi", "consent": True}


def mail_rows(container: Any) -> list[OutboxItem]:
    with container.session_factory() as session:
        return list(session.scalars(select(OutboxItem).where(OutboxItem.kind == "mail")))


def opt_in(container: Any) -> None:
    from service.web import create_app

    client = create_app(container=container).test_client()
    assert client.post("/api/v1/subscribe", json=GOOD).status_code == 202


def test_smtp_refusing_keeps_the_message_queued_until_it_accepts(
    settings: Any, clock: Any, smtp_sink: Any
) -> None:
    container = make_container(settings, clock, smtp_url=smtp_sink.url, mail_from="a@b.fi")
    try:
        opt_in(container)
        smtp_sink.handler.refuse = True
        container.worker().drain()
        [row] = mail_rows(container)
        assert row.status == "pending" and row.attempts == 1
        assert "451" in (row.last_error or "")
        assert "maija" not in (row.last_error or ""), "no personal data in the error"
        smtp_sink.handler.refuse = False
        container.worker().drain()
        assert smtp_sink.messages == [], "the retry waits for its backoff"
        clock.advance(minutes=1)
        container.worker().drain()
        assert len(smtp_sink.wait_for(1)) == 1
        assert mail_rows(container)[0].status == "done"
    finally:
        container.close()


def test_smtp_down_keeps_the_message_queued_until_it_is_back(
    settings: Any, clock: Any
) -> None:
    sink = SmtpSink()
    port = sink.port
    sink.stop()
    container = make_container(settings, clock, smtp_url=f"smtp://127.0.0.1:{port}",
                               mail_from="a@b.fi")
    try:
        opt_in(container)
        for _ in range(3):
            container.worker().drain()
            clock.advance(minutes=2)
        [row] = mail_rows(container)
        assert row.status == "pending" and row.attempts == 3
        back = SmtpSink(port=port)
        try:
            clock.advance(minutes=5)
            container.worker().drain()
            assert len(back.wait_for(1)) == 1
            assert mail_rows(container)[0].status == "done"
        finally:
            back.stop()
    finally:
        container.close()


@pytest.mark.both_databases
def test_nothing_is_sent_for_a_transaction_that_rolled_back(
    settings: Any, clock: Any, smtp_sink: Any
) -> None:
    from service.domain import ledger, letters
    from service.domain.normalize import parse_email

    container = make_container(settings, clock, smtp_url=smtp_sink.url, mail_from="a@b.fi")
    try:
        with container.uow() as uow:
            contact, _created = ledger.upsert_contact(
                uow.session, parse_email("x@example.fi"), name=None, phone=None,
                language="fi", now=clock.now())
            letters.queue_welcome(uow.session, container.deps, contact, key="k", now=clock.now())
            # Leaving without commit: the message must vanish with the change.
        container.worker().drain()
        assert mail_rows(container) == []
        assert smtp_sink.messages == []
    finally:
        container.close()


@pytest.mark.both_databases
def test_worker_killed_mid_delivery_loses_nothing(settings: Any, smtp_sink: Any) -> None:
    container = make_container(settings, SystemClock(), smtp_url=smtp_sink.url,
                               mail_from="a@b.fi")
    try:
        opt_in(container)
        smtp_sink.handler.stall_seconds = 2.0
        env = {
            **os.environ,
            "CONSENT_DATA_DIR": str(settings.data_dir),
            "CONSENT_DATABASE_URL": settings.database_url,
            "CONSENT_SECRET_KEYS": ",".join(settings.secret_keys),
            "CONSENT_SMTP_URL": smtp_sink.url,
            "CONSENT_MAIL_FROM": "a@b.fi",
            "CONSENT_OUTBOX_LEASE_SECONDS": "1",
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "worker"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            assert smtp_sink.handler.entered_data.wait(30), "the worker began delivering"
            os.kill(worker.pid, signal.SIGKILL)
        finally:
            worker.wait(10)
        [row] = mail_rows(container)
        assert row.status == "running", "the killed worker held the message"
        smtp_sink.handler.stall_seconds = 0.0
        time.sleep(1.2)  # the dead worker's lease runs out
        container.worker().drain()
        assert mail_rows(container)[0].status == "done"
        received = smtp_sink.wait_for(1)
        ids = {m["Message-ID"] for m in received}
        assert len(ids) == 1, "a redelivery carries the same Message-ID"
    finally:
        container.close()


def test_recipient_refused_for_good_is_parked_at_once_with_its_reason(
    settings: Any, clock: Any, smtp_sink: Any
) -> None:
    from service.web import create_app

    container = make_container(settings, clock, smtp_url=smtp_sink.url, mail_from="a@b.fi")
    try:
        opt_in(container)
        smtp_sink.handler.refuse_recipients = "550 5.1.1 maija@example.fi: no such user"
        container.worker().drain()
        [row] = mail_rows(container)
        assert (row.status, row.attempts) == ("dead", 1)
        assert "refused the recipient for good (550)" in (row.last_error or "")
        assert "maija" not in (row.last_error or ""), "no personal data in the reason"
        smtp_sink.handler.refuse_recipients = None
        clock.advance(days=1)
        container.worker().drain()
        assert mail_rows(container)[0].status == "dead" and smtp_sink.messages == []
        ready = readiness_details(create_app(container=container).test_client(), container)
        assert ready["outbox"]["parked"] == {"mail": 1}
    finally:
        container.close()


def test_relaying_denied_is_our_configuration_and_is_retried(
    settings: Any, clock: Any, smtp_sink: Any
) -> None:
    container = make_container(settings, clock, smtp_url=smtp_sink.url, mail_from="a@b.fi")
    try:
        opt_in(container)
        smtp_sink.handler.refuse_recipients = "554 5.7.1 Relay access denied"
        container.worker().drain()
        [row] = mail_rows(container)
        assert (row.status, row.attempts) == ("pending", 1)
        assert "554" in (row.last_error or "")
        smtp_sink.handler.refuse_recipients = None
        clock.advance(minutes=1)
        container.worker().drain()
        assert len(smtp_sink.wait_for(1)) == 1
        assert mail_rows(container)[0].status == "done"
    finally:
        container.close()


def test_message_that_cannot_be_built_is_parked_at_once_for_a_developer(
    settings: Any, clock: Any, smtp_sink: Any, caplog: Any
) -> None:
    from service.domain import mail

    container = make_container(settings, clock, smtp_url=smtp_sink.url, mail_from="a@b.fi")
    try:
        with container.uow() as uow:
            # A letter this version cannot compose (queued by a newer one, say).
            mail.queue_unrendered(uow.session, "no-such-letter", {}, key="k", sender="a@b.fi",
                                  to="maija@example.fi", contact_id=None, now=clock.now())
            uow.commit()
        container.worker().drain()
        [row] = mail_rows(container)
        assert (row.status, row.attempts) == ("dead", 1)
        assert (row.last_error or "").startswith("the message cannot be built (KeyError in ")
        assert "maija" not in (row.last_error or "")
        assert not any(r.exc_info for r in caplog.records if r.name == "consent.worker")
        assert smtp_sink.messages == []
    finally:
        container.close()

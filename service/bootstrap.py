"""The composition root: build settings, database, adapters and use-case dependencies."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from service import db
from service.domain import checkpoints, letters
from service.domain.chain import SealReport, seal
from service.domain.dependencies import Deps, Practice
from service.domain.mail import MAIL_KIND
from service.domain.mirror.mirroring import Mirroring
from service.domain.mirror.queue import MIRROR_KIND
from service.domain.outbox import ClaimedItem
from service.domain.outbox_worker import Handler, OutboxWorker, RetryLater
from service.domain.ports import (
    CheckpointLog,
    Clock,
    MailDeliveryError,
    Mailer,
    MirrorMisconfigured,
    MirrorReport,
    MirrorUnavailable,
    RegisterMirror,
)
from service.domain.side_effects import EVENT_HANDLERS
from service.domain.tokens import TokenService
from service.domain.uow import UnitOfWork
from service.domain.webhooks_out.delivery import DELIVERY_KIND, DeliveryService
from service.domain.webhooks_out.emission import WEBHOOK_EVENT_KIND
from service.domain.webhooks_out.fan_out import FanOut
from service.erasure_journal import FileErasureJournal
from service.locks import exclusive
from service.mailers import EmlMailer, SmtpMailer
from service.settings import Settings, SettingsError
from webhooks.outbound import RequestsSender, resolve_host

log = logging.getLogger("consent")


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the current time in UTC."""
        return datetime.now(UTC)


def practice_from(settings: Settings) -> Practice:
    """Return the rule-relevant part of the settings."""
    return Practice(
        organization=settings.organization,
        public_url=settings.public_url,
        mail_from=settings.mail_from,
        privacy_url=settings.privacy_url,
        unsubscribe_mailto=settings.unsubscribe_mailto,
        double_opt_in=settings.double_opt_in,
        default_language=settings.default_language,
        timezone=settings.timezone,
        organization_address=settings.organization_address,
    )


@dataclass
class Container:
    """Everything one process wires together."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    deps: Deps
    mailer: Mailer
    mirror: RegisterMirror
    checkpoint_log: CheckpointLog
    signer: checkpoints.CheckpointSigner
    webhook_delivery: DeliveryService

    @property
    def clock(self) -> Clock:
        """Return the clock."""
        return self.deps.clock

    def uow(self) -> UnitOfWork:
        """Return a fresh unit of work."""
        return UnitOfWork(self.session_factory, EVENT_HANDLERS)

    def deliver_mail(self, item: ClaimedItem) -> None:
        """Deliver one queued message.

        A message that can never go (MailUndeliverable: not buildable, refused for good) is
        left to the worker, which parks it; one that may go later is retried.
        """
        mail = letters.outgoing(self.deps, item.payload, date=item.created_at)
        try:
            self.mailer.deliver(mail.message_id, mail.sender, mail.recipients, mail.raw)
        except MailDeliveryError as exc:
            raise RetryLater(str(exc)) from None

    @functools.cached_property
    def mirroring(self) -> Mirroring:
        """Return this process's register mirror: its passes, lock and schedule."""
        return Mirroring(
            new_uow=self.uow, deps=self.deps, writer=self.mirror,
            exclusive=lambda wait: exclusive(self.engine, "mirror", self.settings.data_dir,
                                             wait=wait),
            full_pass_seconds=self.settings.mirror_full_pass_seconds,
        )

    def sync_register(
        self, *, check_only: bool = False, wait: bool = False, attempt: int = 1,
        incremental: bool = False,
    ) -> MirrorReport:
        """Run one mirror pass now (a full one unless incremental is asked for and possible)."""
        return self.mirroring.run(check_only=check_only, wait=wait, attempt=attempt,
                                  incremental=incremental)

    def schedule_mirror_pass(self) -> None:
        """Queue a full mirror pass (coalesced with any already waiting)."""
        self.mirroring.schedule_full_pass()

    def seal_ledger(self, *, wait: bool = True) -> SealReport | None:
        """Chain the events and audit entries committed since the last sealing.

        None when wait is False and another process is sealing right now.
        """
        return seal(self.uow(), wait=wait)

    def make_checkpoint(self) -> checkpoints.MadeCheckpoint:
        """Sign the ledger's heads now and queue writing them out (and mailing them)."""
        return checkpoints.make_checkpoint(self.uow(), self.deps, self.signer,
                                           mailto=self.settings.checkpoint_mailto)

    def publish_checkpoint(self, checkpoint_id: int) -> None:
        """Write a made checkpoint to the Sheet's checkpoints tab (or the local file)."""
        try:
            checkpoints.publish(self.uow(), self.deps, self.checkpoint_log, checkpoint_id)
        except MirrorMisconfigured as exc:
            raise RetryLater(str(exc), timedelta(minutes=5)) from None
        except MirrorUnavailable as exc:
            raise RetryLater(str(exc), timedelta(minutes=1)) from None

    def run_checkpoint_publish(self, item: ClaimedItem) -> None:
        """Write a queued checkpoint out."""
        self.publish_checkpoint(int(item.payload["checkpoint_id"]))

    def handlers(self) -> dict[str, Handler]:
        """Return the handler of every kind of side effect this process can do."""
        return {MAIL_KIND: self.deliver_mail, MIRROR_KIND: self.mirroring.run_queued,
                checkpoints.PUBLISH_KIND: self.run_checkpoint_publish,
                WEBHOOK_EVENT_KIND: FanOut(self.session_factory).fan_out,
                DELIVERY_KIND: self.webhook_delivery.deliver}

    def worker(self) -> OutboxWorker:
        """Return an outbox worker wired to this container."""
        return OutboxWorker(
            session_factory=self.session_factory,
            clock=self.clock,
            handlers=self.handlers(),
            lease=timedelta(seconds=self.settings.outbox_lease_seconds),
        )

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()


def make_mirror(settings: Settings, **sheets_options: Any) -> RegisterMirror:
    """Return the Google Sheets mirror when credentials are set, else the local file.

    sheets_options reach the Google writer only (tests pass a simulated sleep and clock).
    """
    if settings.google_credentials and settings.spreadsheet_id:
        from mirrors.sheets import GoogleSheetsMirror

        # Read the tab's layout afresh at least once per periodic full pass, so that pass also
        # restores a removed protection or an unfrozen header.
        sheets_options.setdefault("layout_max_age", 0.9 * settings.mirror_full_pass_seconds)
        return GoogleSheetsMirror(
            credentials_file=settings.google_credentials,
            spreadsheet_id=settings.spreadsheet_id,
            worksheet_title=settings.worksheet,
            api_base_url=settings.sheets_api_url,
            **sheets_options,
        )
    from mirrors.local_file import LocalFileMirror

    return LocalFileMirror(settings.data_dir / "register.xlsx", title=settings.worksheet)


def make_checkpoint_log(settings: Settings, mirror: RegisterMirror) -> CheckpointLog:
    """Return the checkpoints tab of a Google mirror's Sheet, else a file beside the local one."""
    from mirrors.checkpoints import FileCheckpointLog, SheetsCheckpointTab
    from mirrors.sheets import GoogleSheetsMirror

    if isinstance(mirror, GoogleSheetsMirror):
        return SheetsCheckpointTab(mirror)
    return FileCheckpointLog(settings.data_dir / "checkpoints.jsonl")


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    mirror: RegisterMirror | None = None,
    migrate: bool | None = None,
) -> Container:
    """Wire the service; the embedded SQLite default migrates itself, PostgreSQL must be ready."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = db.make_engine(settings.database_url)
    if migrate is None:
        migrate = settings.is_sqlite
    if migrate:
        db.upgrade(engine, settings.data_dir)
    else:
        pending = db.pending_migrations(engine)
        if pending:
            raise SettingsError(
                f"the database schema is not up to date ({len(pending)} migration(s) pending): "
                "run `consent db upgrade` once before starting the service."
            )
    clock = clock or SystemClock()
    if mailer is None:
        mailer = SmtpMailer(settings.smtp_url) if settings.smtp_url else EmlMailer(
            settings.outbox_dir
        )
    journal = FileErasureJournal(settings.erasure_journal)
    journal.create()
    deps = Deps(clock=clock, tokens=TokenService(settings.secret_keys, clock),
                practice=practice_from(settings), erasure_journal=journal)
    mirror = mirror or make_mirror(settings)
    session_factory = db.make_session_factory(engine)
    container = Container(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        deps=deps,
        mailer=mailer,
        mirror=mirror,
        checkpoint_log=make_checkpoint_log(settings, mirror),
        signer=checkpoints.CheckpointSigner(settings.secret_keys),
        webhook_delivery=DeliveryService(session_factory=session_factory, clock=clock,
                                         sender=RequestsSender(), resolve=resolve_host),
    )
    return container

"""Long-running processes: the web server with its in-process worker, and the worker alone."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

from service.bootstrap import Container
from service.domain.checkpoints import MadeCheckpoint, checkpoint_daily
from service.domain.retention import RetentionReport, run_daily
from service.settings import Settings

log = logging.getLogger("consent.runner")
POLL_SECONDS = 0.5
# How often a worker chains the ledger entries committed since (service.domain.chain).
SEAL_SECONDS = 1.0
# How often a worker asks whether today's retention run is still to do (it runs once a day).
RETENTION_CHECK_SECONDS = 300.0


def run_retention_if_due(container: Container) -> RetentionReport | None:
    """Apply the retention rules unless some worker already did today; None when it had."""
    from service.sent_mail import forget_files

    settings = container.settings
    report = run_daily(container.uow(), container.deps,
                       pending_days=settings.retention_pending_days,
                       ip_days=settings.retention_ip_days,
                       forget_messages=forget_files(container.mailer))
    if report is not None:
        log.info("daily retention: removed %d unconfirmed opt-in(s), cleared %d evidence and "
                 "%d audit-log IP address(es)", report.pending_removed,
                 report.evidence_ips_cleared, report.audit_ips_cleared)
    return report


def run_checkpoint_if_due(container: Container) -> MadeCheckpoint | None:
    """Make the day's signed checkpoint of the ledger unless some worker already did today."""
    made = checkpoint_daily(container.uow(), container.deps, container.signer,
                            mailto=container.settings.checkpoint_mailto)
    if made is not None:
        cp = made.checkpoint
        log.info("daily ledger checkpoint: events at %d, audit log at %d; written to %s%s",
                 cp.events_position, cp.audit_position, container.checkpoint_log.where,
                 " and mailed" if made.mailed_to else "")
    return made


def run_worker(container: Container, stop: threading.Event) -> None:
    """Drain the outbox until stopped, sleeping briefly when nothing is due."""
    worker = container.worker()
    log.info("worker started")
    next_retention_check = next_seal = 0.0
    while not stop.is_set():
        if time.monotonic() >= next_seal:
            try:
                # Skipped when another worker is sealing: it takes these entries too.
                container.seal_ledger(wait=False)
            except Exception:
                log.exception("chaining the ledger's new entries failed; tried again shortly")
            next_seal = time.monotonic() + SEAL_SECONDS
        if time.monotonic() >= next_retention_check:
            try:
                run_retention_if_due(container)
            except Exception:
                log.exception("daily retention failed; it is tried again later")
            try:
                # After retention, so that the day's checkpoint covers its audit entry.
                run_checkpoint_if_due(container)
            except Exception:
                log.exception("the daily ledger checkpoint failed; it is tried again later")
            next_retention_check = time.monotonic() + RETENTION_CHECK_SECONDS
        try:
            container.mirroring.schedule_full_pass_if_due(time.monotonic())
        except Exception:
            log.exception("could not schedule the periodic mirror pass")
        try:
            handled = worker.run_once()
        except Exception:
            # A database hiccup must not kill the worker; the next round tries again.
            log.exception("worker round failed")
            handled = 0
        if handled == 0:
            stop.wait(POLL_SECONDS)
    log.info("worker stopped")


# What pages and mail show of the practice until it is set: people would read these.
PLACEHOLDER_IDENTITY = (
    ("CONSENT_ORGANIZATION", "organization", "Our practice",
     "the practice's name, as pages and mail show it"),
    ("CONSENT_MAIL_FROM", "mail_from", "noreply@localhost",
     "the address mail comes from and people can write to"),
    ("CONSENT_PRIVACY_URL", "privacy_url", None, "the practice's privacy notice"),
)


def identity_warning(settings: Settings) -> str | None:
    """Name the settings that still show people a placeholder instead of the practice."""
    unset = [f"  {name}: {meaning} (now {default or 'unset'})"
             for name, attribute, default, meaning in PLACEHOLDER_IDENTITY
             if getattr(settings, attribute) == default]
    if not unset:
        return None
    return ("Warning: pages and mail show placeholders until these are set:\n"
            + "\n".join(unset))


def serve(container: Container, *, host: str, port: int, threads: int = 8) -> None:
    """Serve the app with gunicorn (one process, threads) and a worker thread beside it."""
    from gunicorn.app.base import BaseApplication

    from service.web import create_app

    app = create_app(container=container)
    stop = threading.Event()

    def start_worker(_server: Any) -> None:
        threading.Thread(target=run_worker, args=(container, stop), daemon=True,
                         name="outbox-worker").start()

    def stop_worker(_server: Any, _worker: Any) -> None:
        stop.set()

    class EmbeddedServer(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options = {
                "bind": f"{host}:{port}",
                "workers": 1,
                "worker_class": "gthread",
                "threads": threads,
                # One line a request on standard output, as the README says; tokens and
                # ?secret= are hidden by service.web.access_log's filter.
                "accesslog": "-",
                "post_worker_init": start_worker,
                "worker_exit": stop_worker,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return app

    warning = identity_warning(container.settings)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    print(f"consent-register listening on http://{host}:{port}/ (form: /subscribe)", flush=True)
    EmbeddedServer().run()

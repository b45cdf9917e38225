"""Removing messages already written as .eml files, for erasure and retention."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from service.domain.ports import Mailer
from service.mailers import EmlMailer


def forget_files(mailer: Mailer) -> Callable[[Sequence[str]], None] | None:
    """Return what deletes written .eml files by Message-ID when mail goes to files.

    Over SMTP a sent message is out of reach; only queued copies (deleted with the outbox
    rows) and the provider's own logs hold it.
    """
    if not isinstance(mailer, EmlMailer):
        return None

    def forget(message_ids: Sequence[str]) -> None:
        for message_id in message_ids:
            mailer.path_for(str(message_id)).unlink(missing_ok=True)

    return forget

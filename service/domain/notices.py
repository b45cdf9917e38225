"""The consent wording: versions published per language, never edited once published."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select

from service.domain import audit, ledger
from service.domain.dependencies import Deps
from service.domain.languages import LANGUAGES
from service.domain.ledger import Actor
from service.domain.models import Notice
from service.domain.normalize import FieldProblem, InvalidInput, too_long
from service.domain.uow import UnitOfWork

MAX_TEXT = 5000


@dataclass(frozen=True)
class NoticeVersion:
    """One published version with its text per language."""

    version: int
    texts: dict[str, str]


def list_versions(uow: UnitOfWork) -> list[NoticeVersion]:
    """Return every version, newest first."""
    with uow:
        versions: dict[int, dict[str, str]] = {}
        for row in uow.session.scalars(select(Notice).order_by(Notice.version.desc(),
                                                               Notice.language)):
            versions.setdefault(row.version, {})[row.language] = row.text
    return [NoticeVersion(v, texts) for v, texts in versions.items()]


def publish(uow: UnitOfWork, deps: Deps, texts: Mapping[str, str], actor: Actor, *,
            ip: str | None) -> int:
    """Publish the next version; Finnish is required, Swedish and English are optional."""
    clean = {lang: "\n".join(line.rstrip() for line in (texts.get(lang) or "").strip()
                             .splitlines()) for lang in LANGUAGES}
    problems = []
    if not clean["fi"]:
        problems.append(FieldProblem("fi", "the Finnish text is required", "finnish_required"))
    problems.extend(too_long(lang, MAX_TEXT)
                    for lang, text in clean.items() if len(text) > MAX_TEXT)
    if problems:
        raise InvalidInput(problems)
    now = deps.clock.now()
    with uow:
        session = uow.session
        version = (session.scalar(select(func.max(Notice.version))) or 0) + 1
        for lang, text in clean.items():
            if text:
                session.add(Notice(version=version, language=lang, text=text,
                                   content_hash=hashlib.sha256(text.encode()).hexdigest(),
                                   created_at=now))
        session.flush()
        audit.append(session, actor, "notice.publish", ip=ip,
                     detail={"version": version,
                             "languages": [lang for lang, text in clean.items() if text]},
                     now=now)
        uow.commit()
        # This process's opt-ins take the new version as current at once.
        ledger.notice_published(session)
    return version

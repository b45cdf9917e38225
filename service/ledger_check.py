"""Every checkpoint the service can read, and verifying the ledger against them now.

`consent verify` prints the whole report; the proof pack (staff page and `consent proof`) runs
the same check and states its result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from service.domain.chain_verify import VerifyReport


def gather_checkpoints(container: Any, files: tuple[Path, ...], use_stored: bool
                       ) -> tuple[list[Any], list[str]]:
    """Return every checkpoint to compare with (by signature, with its sources) and failures."""
    from service.domain import checkpoints
    from service.domain.chain_verify import CheckpointSource
    from service.domain.ports import MirrorMisconfigured, MirrorUnavailable

    sources: dict[str, tuple[Any, list[str]]] = {}
    unreadable: list[str] = []

    def add(found: Any, source: str) -> None:
        if found.signature in sources:
            sources[found.signature][1].append(source)
        else:
            sources[found.signature] = (found, [source])

    for path in files:
        copies = checkpoints.read_checkpoints(path.read_bytes())
        unreadable += [f"{path}: {problem}" for problem in copies.unreadable]
        if not copies.found and not copies.unreadable:
            unreadable.append(f"{path}: no checkpoint in it")
        for found in copies.found:
            add(found, f"file {path.name}")
    log = container.checkpoint_log
    written: set[str] = set()
    try:
        copies = log.read()
    except (MirrorUnavailable, MirrorMisconfigured) as exc:
        unreadable.append(f"{log.where} could not be read: {exc}")
    else:
        unreadable += [f"{log.where}, {problem}" for problem in copies.unreadable]
        for found in copies.found:
            written.add(found.signature)
            add(found, log.where)
        if use_stored:
            for copy in checkpoints.stored(container.uow()):
                if copy.published_at is not None and copy.checkpoint.signature not in written:
                    unreadable.append(
                        f"the checkpoint of {copy.checkpoint.made_at:%Y-%m-%d %H:%M} UTC was "
                        f"written to {log.where} and is no longer there")
    if use_stored:
        for copy in checkpoints.stored(container.uow()):
            add(copy.checkpoint, "the database's copy")
    return [CheckpointSource(", ".join(where), found)
            for found, where in sources.values()], unreadable


def verify_now(container: Any) -> VerifyReport:
    """Walk both chains and compare them with the checkpoints written and stored."""
    from service.domain.chain_verify import verify

    found, _unreadable = gather_checkpoints(container, (), True)
    return verify(container.session_factory, checkpoints=found,
                  signature=container.signer.check)

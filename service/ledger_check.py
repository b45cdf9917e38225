"""Verify the ledger now, against every checkpoint the service can read: for the proof pack.

`consent verify` prints the whole report; the proof pack (staff page and `consent proof`) needs
the same check and states its result.
"""

from __future__ import annotations

from typing import Any

from service.domain.chain_verify import VerifyReport


def verify_now(container: Any) -> VerifyReport:
    """Walk both chains and compare them with the checkpoints written and stored."""
    from service.cli_ledger import gather_checkpoints
    from service.domain.chain_verify import verify

    found, _unreadable = gather_checkpoints(container, (), True)
    return verify(container.session_factory, checkpoints=found,
                  signature=container.signer.check)

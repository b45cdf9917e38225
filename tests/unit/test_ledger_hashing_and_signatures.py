"""What the chains hash and how checkpoints are signed, as a third party would recompute them."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mirrors.checkpoints import checkpoint_row, row_checkpoint
from service.domain import chain
from service.domain.checkpoints import CheckpointSigner, read_checkpoints
from service.settings import SettingsError, load_settings

WHEN = datetime(2026, 11, 20, 9, 0, 0, 123456, tzinfo=UTC)
HEADS = {"events": (12, "ab" * 32), "audit": (34, "cd" * 32)}


def test_a_link_is_sha256_of_the_previous_hash_and_the_canonical_content() -> None:
    content = {"id": 7, "kind": "granted", "occurred_at": chain.iso(WHEN), "note": "Äijä"}
    expected = hashlib.sha256(
        bytes(32) + b"events 1\n" + json.dumps(content, sort_keys=True, separators=(",", ":"),
                                                ensure_ascii=False).encode("utf-8")).hexdigest()
    assert chain.link_hash(chain.GENESIS, "events", 1, content) == expected
    assert chain.iso(WHEN) == "2026-11-20T09:00:00.123456Z"


def test_ip_addresses_are_committed_apart_from_the_rest_of_the_evidence() -> None:
    key = b"k" * 32
    evidence = {"contact_id": 1, "ip": "203.0.113.7", "source_ip": None, "user_agent": "x",
                "page_url": None, "fields_json": None, "note": None, "recorded_at": WHEN}
    cleared = {**evidence, "ip": None}
    commitment = chain.evidence_commitment(key, 5, evidence)
    assert commitment == chain.evidence_commitment(key, 5, cleared)
    assert commitment != chain.evidence_commitment(key, 6, evidence)
    assert chain.ip_commitment(key, "event", 5, "203.0.113.7") is not None
    assert chain.ip_commitment(key, "event", 5, None, None) is None


def test_a_third_party_checks_a_checkpoint_with_openssl_and_the_public_key(
    tmp_path: Path,
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    signer = CheckpointSigner(["a-secret-key-0123456789"])
    checkpoint = signer.sign(WHEN, HEADS)
    (tmp_path / "public.pem").write_text(signer.public_key_pem())
    (tmp_path / "message.txt").write_bytes(checkpoint.message())
    (tmp_path / "signature.bin").write_bytes(base64.b64decode(checkpoint.signature))
    checked = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "public.pem", "-rawin",
         "-in", "message.txt", "-sigfile", "signature.bin"],
        cwd=tmp_path, capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and "Signature Verified Successfully" in checked.stdout
    assert checkpoint.message().decode() == (
        "consent-register ledger checkpoint v1\n"
        "made-at 2026-11-20T09:00:00.123456Z\n"
        f"events 12 {'ab' * 32}\n"
        f"audit 34 {'cd' * 32}\n")


def test_a_checkpoint_with_any_part_changed_no_longer_checks() -> None:
    signer = CheckpointSigner(["a-secret-key-0123456789"])
    document = signer.sign(WHEN, HEADS).as_json()
    assert signer.check(chain.Checkpoint.from_json(document)) == "valid"
    document["audit"]["position"] = 33
    assert signer.check(chain.Checkpoint.from_json(document)) == "invalid"


def test_older_keys_check_what_they_signed_and_a_stranger_key_is_told_apart() -> None:
    old = CheckpointSigner(["an-older-key-0123456789"]).sign(WHEN, HEADS)
    rotated = CheckpointSigner(["an-older-key-0123456789", "the-newest-key-0123456789"])
    assert rotated.check(old) == "valid"
    assert rotated.sign(WHEN, HEADS).key_id != old.key_id
    assert CheckpointSigner(["the-newest-key-0123456789"]).check(old) == "unknown key"


def test_a_checkpoint_survives_the_sheet_row_the_json_file_and_the_saved_mail() -> None:
    checkpoint = CheckpointSigner(["a-secret-key-0123456789"]).sign(WHEN, HEADS)
    assert row_checkpoint(checkpoint_row(checkpoint)) == checkpoint
    lines = (json.dumps(checkpoint.as_json()) + "\n").encode()
    assert read_checkpoints(lines).found == [checkpoint]
    with pytest.raises(ValueError, match="made_at"):
        row_checkpoint(["yesterday", "1", "ab" * 32, "1", "cd" * 32, "k", "AA==", "AA=="])


def test_checkpoint_mailto_must_be_one_address(tmp_path: Path) -> None:
    env = {"CONSENT_DATA_DIR": str(tmp_path), "CONSENT_SECRET_KEYS": "k" * 20}
    assert load_settings({**env, "CONSENT_CHECKPOINT_MAILTO": "omistaja@klinikka.fi"}
                         ).checkpoint_mailto == "omistaja@klinikka.fi"
    with pytest.raises(SettingsError, match="CONSENT_CHECKPOINT_MAILTO"):
        load_settings({**env, "CONSENT_CHECKPOINT_MAILTO": "a@klinikka.fi, b@klinikka.fi"})

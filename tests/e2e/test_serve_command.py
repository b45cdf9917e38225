"""`consent serve`, started as an operator starts it, writes the access log the README describes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_consent_serve_logs_each_request_with_personal_tokens_hidden(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "CONSENT_DATA_DIR": str(tmp_path / "data"),
           "CONSENT_SECRET_KEYS": "serve-test-key-0123456789abcdef"}
    env.pop("CONSENT_DATABASE_URL", None)
    log_file = tmp_path / "serve.log"
    with log_file.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "from service.cli import main; main()", "serve",
             "--port", str(port), "--threads", "2"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if requests.get(base + "/healthz", timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                assert process.poll() is None and time.monotonic() < deadline, \
                    log_file.read_text()
                time.sleep(0.1)
            token = "eyJjIjoiM2YwYyIsImNoIjoiZW1haWwifQ.Zk9x-1_a"
            requests.get(f"{base}/unsubscribe/{token}", timeout=5)
            time.sleep(0.3)
        finally:
            process.terminate()
            process.wait(timeout=15)
    text = log_file.read_text()
    assert '"GET /healthz HTTP/1.1" 200' in text
    assert '"GET /unsubscribe/[token] HTTP/1.1"' in text
    assert token not in text

"""``starter.py token`` and ``starter.py serve`` as a user runs them: a token printed once with
its settings line; the gateway serving on loopback until SIGTERM; a public address refused
when no token is configured."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from handrail.http import token_hash

STARTER = Path(__file__).resolve().parents[2] / "starter.py"


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(STARTER), *args], env=env, capture_output=True, text=True, timeout=60
    )


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDRAIL_")}
    return {**env, "HANDRAIL_DATA_DIR": str(tmp_path), **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_token_prints_the_token_once_and_its_hash_for_the_settings(tmp_path: Path) -> None:
    existing = json.dumps({"bob": "b" * 64})
    done = run("token", "alice", env=clean_env(tmp_path, HANDRAIL_REVIEWER_TOKENS=existing))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    token = lines[1].strip()
    assert token.startswith("hrt_")
    assert done.stdout.count(token) == 1
    variable, _, value = lines[3].strip().partition("=")
    assert variable == "HANDRAIL_REVIEWER_TOKENS"
    assert json.loads(value.strip("'")) == {"alice": token_hash(token), "bob": "b" * 64}


def test_serve_refuses_a_public_address_without_tokens(tmp_path: Path) -> None:
    done = run("serve", "--host", "0.0.0.0", "--port", "1", env=clean_env(tmp_path))
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0" in done.stderr


def test_serve_answers_until_sigterm(tmp_path: Path, temporal_address: str) -> None:
    port = free_port()
    env = clean_env(tmp_path, HANDRAIL_TEMPORAL_ADDRESS=temporal_address)
    env["HANDRAIL_API_TOKENS"] = json.dumps({"svc": token_hash("hrt_cli_test")})
    process = subprocess.Popen(
        [sys.executable, str(STARTER), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60  # a cold start under a loaded CI machine
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert json.load(r) == {"status": "ok"}
                    break
            except OSError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()  # closes the pipes even when the test failed half way
    assert process.returncode == -signal.SIGTERM, err
    assert f"Review inbox: http://127.0.0.1:{port}/inbox" in out

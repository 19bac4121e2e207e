"""Fixtures: a TLS pair, and `make_stack` / `stack` (real nginx + real Verdict FastCGI workers, in both modes)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from support import MODES, Signer, Stack, binary


@pytest.fixture
def signer() -> type[Signer]:
    return Signer


@pytest.fixture(scope="session")
def tls(tmp_path_factory) -> dict[str, Path]:
    """A self-signed pair for localhost / 127.0.0.1, made on the spot."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return {"cert": cert, "key": key}


@pytest.fixture(params=MODES)
def mode(request) -> str:
    return request.param


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember whether the test body failed, so teardown does not report the same broken log twice."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.verdict_call_failed = report.failed


@pytest.fixture
def make_stack(request, tmp_path, tls):
    """make_stack(mode, workers=2, max_body_bytes=None, umask=None, fsync=True, keep_conn=False) -> a started Stack
    (keep_conn: nginx keeps a pool of connections to Verdict, `fastcgi_keep_conn on`). Afterwards:
    stopped, its whole decision log validated once more, and nginx's error log checked for errors."""
    stacks: list[Stack] = []
    binary_path = binary()
    if not (binary_path.is_file() and os.access(binary_path, os.X_OK)):
        pytest.fail(f"no verdict binary at {binary_path}: run `swift build` or set VERDICT_BIN", pytrace=False)

    def make(mode: str, workers: int = 2, max_body_bytes: int | None = None, umask: int | None = None,
             fsync: bool = True, keep_conn: bool = False) -> Stack:
        root = tmp_path / f"stack{len(stacks)}"
        root.mkdir()
        stack = Stack(root, mode, workers, tls, max_body_bytes, umask, fsync, keep_conn)
        stacks.append(stack)
        return stack.start()

    yield make
    for stack in stacks:
        stack.stop()
    if not getattr(request.node, "verdict_call_failed", False):
        for stack in stacks:
            stack.log.records()  # every line written during the test, schema-checked
            # A FastCGI framing problem or a worker dropping a connection shows up here, not in the status codes.
            log = stack.root / "nginx-error.log"
            problems = [line for line in log.read_text(errors="replace").splitlines()
                        if re.search(r"\[(error|crit|alert|emerg)\]", line)] if log.exists() else []
            assert not problems, "nginx logged errors:\n" + "\n".join(problems[:5])


@pytest.fixture
def stack(make_stack, mode) -> Stack:
    return make_stack(mode)

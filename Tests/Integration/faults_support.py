"""Helpers for test_faults.py: CGI runs of the binary, tmpfs and bind mounts, worker process bookkeeping, raw TLS,
the redelivery index format and `verdict verify-log`. Builds on support.py (imported, never edited).

Ports: the fault tests use 127.0.0.1:19500-19999 only (support.free_port hands out 18000-19999, so test_faults.py
swaps in `fault_port` for its stacks).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import pwd
import re
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import support
from support import Stack, binary, children_of, fastcgi_params, pid_alive

PORT_LOW, PORT_HIGH = 19500, 19999
_next_fault_port = PORT_LOW + (os.getpid() * 13) % (PORT_HIGH - PORT_LOW + 1)


def fault_port() -> int:
    """A port in 19500-19999 that is free on 127.0.0.1 right now."""
    global _next_fault_port
    span = PORT_HIGH - PORT_LOW + 1
    for _ in range(span):
        port = _next_fault_port
        _next_fault_port = PORT_LOW + (_next_fault_port - PORT_LOW + 1) % span
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port in {PORT_LOW}-{PORT_HIGH}")


# ---------------------------------------------------------------------------------------------------------------
# Time, the log directory, the redelivery index
# ---------------------------------------------------------------------------------------------------------------


def utc_day(offset_days: int = 0) -> str:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=offset_days)).strftime("%Y-%m-%d")


def day_file(log_dir: Path, day: str | None = None) -> Path:
    return log_dir / f"decisions-{day or utc_day()}.jsonl"


def redelivery_key(endpoint: str, event_id: str) -> bytes:
    """The 16 bytes Verdict records in .verdict/seen-DAY: the first half of sha256(endpoint NUL event_id)."""
    return hashlib.sha256(endpoint.encode() + b"\0" + event_id.encode()).digest()[:16]


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every decisions-*.jsonl file's bytes (what 'nothing appended' compares)."""
    return {p.name: p.read_bytes() for p in sorted(directory.glob("decisions-*.jsonl"))} if directory.is_dir() else {}


@dataclass
class VerifyLogResult:
    code: int
    files: int
    lines: int
    problems: list[str]
    output: str
    cut_short: list[str]


def verify_log(directory: Path) -> VerifyLogResult:
    run = subprocess.run([str(binary()), "verify-log", str(directory)], capture_output=True, text=True, timeout=60)
    lines = run.stdout.strip().splitlines()
    assert lines, f"verify-log printed nothing (exit {run.returncode}): {run.stderr}"
    summary = re.fullmatch(r"(\d+) files?, (\d+) lines?, (\d+) problems?(?:, (\d+) lines? cut short)?", lines[-1])
    assert summary, f"verify-log summary not understood: {lines[-1]!r}"
    files, count, problems = map(int, summary.groups()[:3])
    cut_short = [line for line in lines[:-1] if re.search(r":\d+: cut short \(", line)]
    assert len(cut_short) == int(summary.group(4) or 0), run.stdout
    assert problems == len(lines) - 1 - len(cut_short), run.stdout
    return VerifyLogResult(run.returncode, files, count, [line for line in lines[:-1] if line not in cut_short],
                           run.stdout, cut_short)


# ---------------------------------------------------------------------------------------------------------------
# Plain CGI: the same binary, parameters in the environment, the body on standard input
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class CGIResult:
    status: int
    headers: dict[str, str]
    body: bytes
    stderr: str
    returncode: int
    raw: bytes = field(repr=False, default=b"")

    def json(self):
        import json

        assert self.headers.get("content-type", "").startswith("application/json"), self
        return json.loads(self.body)


def parse_cgi_output(stdout: bytes) -> tuple[int, dict[str, str], bytes]:
    head, separator, body = stdout.partition(b"\r\n\r\n")
    assert separator, f"CGI output without a header block: {stdout[:300]!r}"
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    assert "status" in headers, f"CGI output without Status: {head!r}"
    return int(headers["status"].split()[0]), headers, body


def cgi_env(config: Path, method: str, endpoint: str, body: bytes, headers: dict[str, str],
            content_length: int | None = None) -> dict[str, str]:
    params = fastcgi_params(method, f"/cgi-bin/verdict.cgi/{endpoint}", body, headers)
    params["SCRIPT_NAME"] = "/cgi-bin/verdict.cgi"
    params["PATH_INFO"] = f"/{endpoint}"
    params.pop("DOCUMENT_URI")
    if content_length is not None:
        params["CONTENT_LENGTH"] = str(content_length)
    if method in ("GET", "HEAD"):
        params.pop("CONTENT_LENGTH")
        params.pop("CONTENT_TYPE")
    params["PATH"] = "/usr/bin:/bin"
    params["VERDICT_CONFIG"] = str(config)
    return params


def drop_to(user: str):
    """preexec_fn running the child as `user` with its primary group and no supplementary groups."""
    entry = pwd.getpwnam(user)

    def demote():
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)

    return demote


def cgi(config: Path, method: str, endpoint: str, body: bytes = b"", headers: dict[str, str] | None = None, *,
        stdin: bytes | None = None, content_length: int | None = None, user: str | None = None,
        program: Path | None = None, timeout: float = 30) -> CGIResult:
    """Runs one CGI request to completion. `stdin` defaults to `body`; `content_length` to its length."""
    env = cgi_env(config, method, endpoint, body, headers or {}, content_length)
    run = subprocess.run(
        [str(program or binary())], input=body if stdin is None else stdin, env=env, capture_output=True,
        timeout=timeout, cwd="/", preexec_fn=drop_to(user) if user else None,
    )
    assert run.returncode == 0, f"CGI exited {run.returncode}: {run.stderr.decode(errors='replace')}"
    status, parsed, answer = parse_cgi_output(run.stdout)
    return CGIResult(status, parsed, answer, run.stderr.decode(errors="replace"), run.returncode, run.stdout)


def start_cgi(config: Path, endpoint: str, body: bytes, headers: dict[str, str]) -> subprocess.Popen:
    """Starts one CGI request without waiting (to run many at once, and to kill some mid-flight)."""
    process = subprocess.Popen(
        [str(binary())], env=cgi_env(config, "POST", endpoint, body, headers), stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/",
    )
    return process


# ---------------------------------------------------------------------------------------------------------------
# Mounts (root only; every test that mounts unmounts in a finally block)
# ---------------------------------------------------------------------------------------------------------------


def _run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


def require_mount() -> None:
    """Skips the calling test, with the reason, when this process may not mount a tmpfs."""
    probe = Path(tempfile.mkdtemp(prefix="verdict-mount-probe-"))
    try:
        result = _run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)])
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN): {result.stderr.strip()}")
        unmount(probe)
    finally:
        probe.rmdir()


def unmount(path: Path) -> None:
    for _ in range(50):
        if _run(["umount", str(path)]).returncode == 0:
            return
        time.sleep(0.1)
    _run(["umount", "-l", str(path)])  # last resort: detach; the test already failed or will


def mount_tmpfs(path: Path, size: str, mode: str = "0750") -> Path:
    """Mounts a tmpfs of `size` on `path` (created when missing); the caller unmounts it in a finally block."""
    path.mkdir(parents=True, exist_ok=True)
    result = _run(["mount", "-t", "tmpfs", "-o", f"size={size},mode={mode}", "tmpfs", str(path)])
    assert result.returncode == 0, f"mount tmpfs on {path}: {result.stderr}"
    return path


@contextmanager
def read_only_bind(path: Path):
    """`path` seen through a read-only bind mount of itself (new opens get EROFS)."""
    result = _run(["mount", "--bind", str(path), str(path)])
    assert result.returncode == 0, f"bind mount {path}: {result.stderr}"
    try:
        result = _run(["mount", "-o", "remount,bind,ro", str(path)])
        assert result.returncode == 0, f"remount {path} read-only: {result.stderr}"
        yield path
    finally:
        unmount(path)


def fill(directory: Path, name: str = "filler") -> Path:
    """Writes zeros into directory/name until the file system is full; returns the filler's path."""
    filler = directory / name
    block = b"\0" * 4096
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(block)
        except OSError as error:
            assert error.errno == 28, f"filling {directory}: {error}"
    # A last, smaller write can still find room in a partial page; make sure even one byte no longer fits.
    with open(filler, "ab", buffering=0) as out:
        for size in (2048, 512, 64, 1):
            try:
                while True:
                    out.write(b"\0" * size)
            except OSError as error:
                assert error.errno == 28, f"filling {directory}: {error}"
    return filler


# ---------------------------------------------------------------------------------------------------------------
# Worker processes of a Stack
# ---------------------------------------------------------------------------------------------------------------


def worker_pids(stack: Stack) -> list[int]:
    if stack.mode == "serve":
        # The supervisor's live children (not the dead ones it has yet to reap). A serve that runs its single worker
        # in its own process (older builds) has no children at all, and is its own worker.
        children = children_of(stack.supervisor.pid)
        if not children and stack.workers == 1:
            return [stack.supervisor.pid]
        return sorted(pid for pid in children if pid_alive(pid))
    return sorted(pid for pid in stack.worker_pids if pid_alive(pid))


def assert_workers_unchanged(stack: Stack, before: list[int]) -> None:
    after = worker_pids(stack)
    assert after == before, f"worker processes changed: {before} -> {after}\n{stack.output()}"
    if stack.supervisor is not None:
        assert stack.supervisor.poll() is None, f"verdict serve exited: {stack.output()}"
    assert "ended unexpectedly" not in full_output(stack), full_output(stack)


def full_output(stack: Stack) -> str:
    try:
        return (stack.root / "verdict.out").read_text(errors="replace")
    except FileNotFoundError:
        return ""


class OutputMark:
    """What a Stack's workers wrote on standard error after this point."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.offset = len(full_output(stack).encode())

    def new(self) -> str:
        data = (self.stack.root / "verdict.out").read_bytes()
        return data[self.offset:].decode(errors="replace")


def restart_verdict(stack: Stack) -> None:
    """Stops every worker (and the supervisor) and starts them again on the same socket and log."""
    stack.stop_verdict()
    stack.supervisor = None
    stack.worker_pids = []
    stack.start_verdict()


# ---------------------------------------------------------------------------------------------------------------
# Raw TLS to nginx (requests http.client would not send)
# ---------------------------------------------------------------------------------------------------------------


def raw_tls(stack: Stack, timeout: float = 10) -> ssl.SSLSocket:
    sock = socket.create_connection(("127.0.0.1", stack.port), timeout=timeout)
    return stack.ssl_context.wrap_socket(sock, server_hostname="localhost")


def kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass



class BigParamsFastCGIClient(support.FastCGIClient):
    """support.FastCGIClient, with the parameter stream split over several records (one record holds at most
    65535 bytes), so a parameter of 64 KiB or more can be sent."""

    def begin(self, params: dict[str, str]) -> None:
        encoded = b"".join(
            support._fcgi_length(len(k.encode())) + support._fcgi_length(len(v.encode())) + k.encode() + v.encode()
            for k, v in params.items()
        )
        records = [support._fcgi_record(support.FCGI_BEGIN_REQUEST, struct.pack("!HB5x", 1, 0))]
        for start in range(0, len(encoded), 65535):
            records.append(support._fcgi_record(support.FCGI_PARAMS, encoded[start : start + 65535]))
        records.append(support._fcgi_record(support.FCGI_PARAMS, b""))
        self.sock.sendall(b"".join(records))


def wait_for_output(mark: OutputMark, text: str, count: int = 1, timeout: float = 5) -> str:
    """Waits until the workers' standard error since `mark` holds `text` `count` times; fails showing it."""
    deadline = time.monotonic() + timeout
    while True:
        output = mark.new()
        if output.count(text) >= count:
            return output
        if time.monotonic() > deadline:
            raise AssertionError(f"wanted {count} x {text!r} on the workers' standard error, got:\n{output[-3000:]}")
        time.sleep(0.02)

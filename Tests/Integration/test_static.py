"""Checks a self-contained verdict built by Config/build-static; builds nothing itself.

Binary: $VERDICT_STATIC_BIN, default .build/static/verdict. The chroot holds only the binary, the glibc objects
`ldd` names, a config and a fresh /proc (as on any real host: Swift's runtime finds argv through /proc/self/maps):
no /opt/swift, no /usr, and the environment is cleared but for CGI variables. It runs in new mount and pid
namespaces (`unshare`, with `--user --map-root-user` when not root).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import apache_harness as harness  # noqa: E402

# glibc's own shared objects (and the kernel's vDSO); anything else means something was not linked statically.
GLIBC_OBJECT = re.compile(r"linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|lib(c|m|pthread|dl|rt|util|resolv)\.so\.\d+")

CONFIG = f"""\
log_dir = "log"

[[endpoint]]
name = "stripe"
provider = "stripe"
secrets = ["{harness.STRIPE_SECRET}"]
"""


@pytest.fixture(scope="module")
def static_binary() -> Path:
    binary = Path(os.environ.get("VERDICT_STATIC_BIN") or harness.REPO / ".build/static/verdict")
    if not binary.is_file():
        pytest.fail(f"{binary} does not exist: run Config/build-static (or set VERDICT_STATIC_BIN)")
    return binary


def ldd(binary: Path) -> str:
    done = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=30)
    return done.stdout + done.stderr


def shared_objects(binary: Path) -> list[tuple[str, str | None]]:
    """(name, resolved path or None) for every line ldd prints."""
    objects = []
    for line in ldd(binary).splitlines():
        fields = line.split()
        if not fields or "not a dynamic executable" in line:
            continue
        if "=>" in fields:
            target = fields[fields.index("=>") + 1]
            objects.append((fields[0], target if target.startswith("/") else None))
        else:
            objects.append((os.path.basename(fields[0]), fields[0] if fields[0].startswith("/") else None))
    return objects


def test_ldd_lists_only_glibc_objects(static_binary):
    listing = ldd(static_binary)
    dynamic = subprocess.run(["readelf", "-d", str(static_binary)], capture_output=True, text=True).stdout
    if "There is no dynamic section" in dynamic:  # FULLY_STATIC=1: glibc linked in as well
        assert "not a dynamic executable" in listing, listing
        return
    names = [name for name, _ in shared_objects(static_binary)]
    assert "libc.so.6" in names, listing
    strangers = [name for name in names if not GLIBC_OBJECT.fullmatch(name)]
    assert not strangers, listing
    assert "not found" not in listing, listing
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic)
    assert needed and all(GLIBC_OBJECT.fullmatch(name) for name in needed), needed
    assert "swift" not in " ".join(re.findall(r"\((?:RUNPATH|RPATH)\).*", dynamic)), dynamic


def build_chroot(root: Path, binary: Path, copy=lambda name, path: GLIBC_OBJECT.fullmatch(name)) -> Path:
    """root/verdict/{verdict,verdict.toml} plus the shared objects ldd names that `copy` accepts (glibc's only, by
    default), at the paths the loader expects."""
    for name, path in shared_objects(binary):
        if path and copy(name, path):
            destination = root / path.lstrip("/")
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(os.path.realpath(path), destination)
    (root / "proc").mkdir(parents=True)
    home = root / "verdict"
    home.mkdir()
    shutil.copy(binary, home / "verdict")
    os.chmod(home / "verdict", 0o755)
    (home / "verdict.toml").write_text(CONFIG)
    os.chmod(home / "verdict.toml", 0o600)
    return home


def run_cgi(root: Path, program: str, body: bytes, headers: dict[str, str]) -> subprocess.CompletedProcess:
    env = {"GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_METHOD": "POST",
           "CONTENT_LENGTH": str(len(body)), "SCRIPT_NAME": "/hooks/verdict.cgi", "PATH_INFO": "/stripe",
           "REQUEST_URI": "/hooks/verdict.cgi/stripe"}
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        env[key if key == "CONTENT_TYPE" else "HTTP_" + key] = value
    unshare = ["unshare", "--mount", "--pid", "--fork", f"--mount-proc={root}/proc"]
    if os.geteuid() != 0:
        unshare[1:1] = ["--user", "--map-root-user"]
    command = [*unshare, shutil.which("chroot") or "/usr/sbin/chroot", str(root), program]
    return subprocess.run(command, input=body, env=env, capture_output=True, timeout=30)


def parse_cgi(stdout: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = stdout.partition(b"\r\n\r\n")
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
    return int(headers["Status"].split()[0]), headers, body


def test_chroot_without_swift_answers_a_signed_cgi_request(static_binary, tmp_path):
    root = tmp_path / "root"
    home = build_chroot(root, static_binary)
    inside = sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())
    assert inside and all(path.startswith(("lib", "verdict/")) for path in inside), inside
    assert not any("swift" in path.lower() or path.startswith("opt/") for path in inside), inside

    body, event_id = harness.stripe_body()
    result = run_cgi(root, "/verdict/verdict", body, harness.stripe_headers(body))
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    status, headers, answer = parse_cgi(result.stdout)
    assert status == 200, result.stdout
    assert headers["Content-Type"] == "application/json"
    assert json.loads(answer) == {"status": "accepted", "event_id": event_id, "outcome": "approved"}
    lines = [json.loads(line) for file in (home / "log").glob("decisions-*.jsonl")
             for line in file.read_text().splitlines()]
    assert [line["event_id"] for line in lines] == [event_id]

    # The signature check is real in there too: a wrong secret is refused and logs nothing.
    body, _ = harness.stripe_body()
    result = run_cgi(root, "/verdict/verdict", body, harness.stripe_headers(body, secret="whsec_wrong"))
    status, _, answer = parse_cgi(result.stdout)
    assert status == 401 and json.loads(answer)["error"] == "signature_mismatch", result.stdout
    assert sum(1 for file in (home / "log").glob("decisions-*.jsonl") for _ in file.open()) == 1


def test_the_chroot_really_hides_the_swift_runtime(tmp_path):
    """Control: a verdict that needs the Swift runtime's shared objects cannot even start in the same chroot."""
    candidates = [Path(os.environ.get("VERDICT_BIN", "")), harness.REPO / ".build/debug/verdict",
                  harness.REPO / ".build/release/verdict"]
    dynamic = next((path for path in candidates if path.is_file() and "libswiftCore" in ldd(path)), None)
    if dynamic is None:
        pytest.skip("no dynamically linked verdict (swift build) to use as the control")
    root = tmp_path / "root"
    # Everything it needs but the Swift toolchain's own libraries (libfcgi, libstdc++, ... come along).
    build_chroot(root, dynamic, copy=lambda name, path: "swift" not in path.lower())
    body, _ = harness.stripe_body()
    result = run_cgi(root, "/verdict/verdict", body, harness.stripe_headers(body))
    assert result.returncode != 0
    assert re.search(rb"libswift\w*\.so: cannot open shared object file", result.stderr), result.stderr

"""Verdict behind Debian's apache2, set up the way shared hosts do (Config/apache/, README "Shared hosting").

Each test starts from apache_harness.ApacheSite: the customer's home with ~/verdict/{verdict,verdict.toml,secrets/}
outside the web root and public_html/hooks/{.htaccess,verdict.cgi,verdict.fcgi}; .cgi runs under mod_cgid once per
request, .fcgi under mod_fcgid as a persistent FastCGI process. Binary: $VERDICT_STATIC_BIN, $VERDICT_BIN,
.build/release/verdict or .build/debug/verdict. Needs apache2 and libapache2-mod-fcgid (Debian).
Set VERDICT_KEEP_APACHE=1 to keep the temporary server directories for inspection.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import apache_harness as harness  # noqa: E402

HANDLERS = {"cgid": "/hooks/verdict.cgi", "fcgid": "/hooks/verdict.fcgi"}


@pytest.fixture(scope="module")
def verdict_binary() -> Path:
    binary = harness.find_verdict_binary()
    if binary is None or not binary.is_file():
        pytest.fail("no verdict binary: build one (swift build / Config/build-static) or set VERDICT_BIN")
    if shutil.which("apache2") is None or not (harness.MODULES_DIR / "mod_fcgid.so").exists():
        pytest.fail("apache2 and libapache2-mod-fcgid are required (apt-get install apache2 libapache2-mod-fcgid)")
    return binary


@pytest.fixture(scope="module")
def site(verdict_binary):
    with harness.ApacheSite(verdict_binary) as running:
        yield running


@pytest.fixture
def fresh_site(verdict_binary):
    """A site of its own, not started: for tests that break the layout."""
    created = harness.ApacheSite(verdict_binary)
    yield created
    created.cleanup()


@pytest.fixture(params=sorted(HANDLERS))
def handler(request) -> str:
    return HANDLERS[request.param]


def records_for(site: harness.ApacheSite, key: str, value: str) -> list[dict]:
    return [record for record in site.log_records() if record.get(key) == value]


# -- signed deliveries -------------------------------------------------------------------------------------------


def test_healthz_is_ok_through_apache(site, handler):
    answer = site.request("GET", f"{handler}/healthz")
    assert answer.status == 200, answer
    assert answer.json() == {"status": "ok"}


def test_signed_veriff_decision_lands_exactly_one_line(site, handler):
    body, session_id = harness.veriff_body()
    before = site.log_lines()
    answer = site.request("POST", f"{handler}/veriff", body, harness.veriff_headers(body))
    assert answer.status == 200, answer
    assert answer.header("Content-Type") == "application/json"
    assert answer.json()["status"] == "accepted" and answer.json()["outcome"] == "approved"
    lines = records_for(site, "session_id", session_id)
    assert len(lines) == 1, lines
    assert lines[0]["endpoint"] == "veriff" and lines[0]["event_id"] == answer.json()["event_id"]
    assert site.log_lines() == before + 1


def test_signed_stripe_event_lands_exactly_one_line_even_when_redelivered(site, handler):
    body, event_id = harness.stripe_body()
    before = site.log_lines()
    answer = site.request("POST", f"{handler}/stripe", body, harness.stripe_headers(body))
    assert answer.status == 200, answer
    assert answer.json() == {"status": "accepted", "event_id": event_id, "outcome": "approved"}
    again = site.request("POST", f"{handler}/stripe", body, harness.stripe_headers(body))
    assert again.status == 200, again
    assert again.json()["status"] == "duplicate"
    assert len(records_for(site, "event_id", event_id)) == 1
    assert site.log_lines() == before + 1


def test_pretty_url_is_rewritten_to_the_cgi(site):
    body, event_id = harness.stripe_body()
    answer = site.request("POST", "/hooks/stripe", body, harness.stripe_headers(body))
    assert answer.status == 200, answer
    assert answer.json()["event_id"] == event_id
    assert len(records_for(site, "event_id", event_id)) == 1


def test_symlink_to_the_binary_finds_config_beside_the_real_file(site):
    """Hosts without suEXEC allow a symlink: argv[0] is public_html/hooks/..., /proc/self/exe is ~/verdict/verdict."""
    link = site.hooks / "linked.cgi"
    link.symlink_to(site.verdict_dir / "verdict")
    site.chown_home()
    body, event_id = harness.stripe_body()
    answer = site.request("POST", "/hooks/linked.cgi/stripe", body, harness.stripe_headers(body))
    assert answer.status == 200, answer
    assert len(records_for(site, "event_id", event_id)) == 1


def test_wrapper_runs_when_started_by_its_bare_name_as_suexec_starts_it(site):
    """suEXEC changes to the script's folder and runs it by its bare name (execv("verdict.cgi", ...)), so the shell
    sees $0 without a folder: the wrapper must still find ~/verdict from there."""
    environment = {"PATH": "/usr/bin:/bin", "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1",
                   "REQUEST_METHOD": "GET", "PATH_INFO": "/healthz", "SCRIPT_NAME": "/hooks/verdict.cgi"}
    demote = site.as_site_user()
    for name in ("verdict.cgi", "verdict.fcgi"):
        # As suEXEC does, as the home's owner: fork, change to the folder, exec the bare name.
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.dup2(writer, 1)
                os.chdir(site.hooks)
                if demote is not None:
                    demote()
                os.execve(name, [name], environment)
            finally:
                os._exit(127)
        os.close(writer)
        with os.fdopen(reader, "rb") as answer:
            stdout = answer.read()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, stdout
        assert stdout.startswith(b"Status: 200") and b'"status":"ok"' in stdout, stdout


def test_check_config_run_by_a_relative_path_names_the_file_plainly(site):
    """README step 5.3, `./verdict/verdict check-config` from the home folder: the path it prints has no `/./`."""
    home = site.verdict_dir.parent
    checked = subprocess.run([f"./{site.verdict_dir.name}/verdict", "check-config"], cwd=home, capture_output=True,
                             text=True, timeout=30, preexec_fn=site.as_site_user())
    assert checked.returncode == 0, checked.stderr
    assert f"configuration OK: {site.verdict_dir}/verdict.toml\n" in checked.stdout, checked.stdout


def test_verdict_sign_output_is_accepted_as_readme_shows(site):
    """README: `verdict sign --endpoint stripe --url URL < body.json` prints a curl command that delivers it."""
    body, event_id = harness.stripe_body()
    url = f"http://127.0.0.1:{site.port}/hooks/verdict.cgi/stripe"
    body_file = site.base / "body.json"
    body_file.write_bytes(body)
    verdict = str(site.verdict_dir / "verdict")
    with body_file.open("rb") as stdin:
        signed = subprocess.run([verdict, "sign", "--endpoint", "stripe", "--config", str(site.config), "--url", url],
                                stdin=stdin, capture_output=True, text=True, timeout=30, cwd=site.base)
    assert signed.returncode == 0, signed.stderr
    assert "curl" in signed.stdout and url in signed.stdout, signed.stdout
    assert " -k " not in signed.stdout  # plain http: no certificate to check
    # Anywhere else the certificate is checked, as the provider checks it.
    for elsewhere in ("https://example.com/hooks/stripe", "https://127.example.com:8443/x", "https://[2001:db8::1]/x"):
        printed = subprocess.run([verdict, "sign", "--endpoint", "stripe", "--config", str(site.config), "--url",
                                  elsewhere], input=body, capture_output=True, timeout=30).stdout.decode()
        assert printed.startswith("curl -sS -X POST") and " -k " not in printed, printed
    for loopback in ("https://localhost:8443/x", "https://[::1]:8443/x", "https://127.0.0.2/x"):
        printed = subprocess.run([verdict, "sign", "--endpoint", "stripe", "--config", str(site.config), "--url",
                                  loopback], input=body, capture_output=True, timeout=30).stdout.decode()
        assert printed.startswith("curl -sS -k -X POST"), printed
    delivered = subprocess.run(["sh", "-c", signed.stdout], capture_output=True, text=True, timeout=30,
                               cwd=site.base)
    assert delivered.returncode == 0, delivered.stderr
    assert '"accepted"' in delivered.stdout and event_id in delivered.stdout, delivered.stdout
    assert len(records_for(site, "event_id", event_id)) == 1

    # Without --url: one `Header: value` line per header, usable with any client.
    body, event_id = harness.stripe_body()
    headers = subprocess.run([verdict, "sign", "--endpoint", "stripe", "--config", str(site.config)],
                             input=body, capture_output=True, timeout=30).stdout.decode()
    parsed = dict(line.split(": ", 1) for line in headers.splitlines() if line)
    assert set(parsed) == {"Stripe-Signature"}, headers
    answer = site.request("POST", "/hooks/verdict.fcgi/stripe", body, {**parsed, "Content-Type": "application/json"})
    assert answer.status == 200, answer
    assert len(records_for(site, "event_id", event_id)) == 1


def test_verdict_sign_signs_a_body_that_is_not_utf8_as_its_bytes(site):
    """A body file is signed byte for byte, so `invalid_utf8` can be tested end to end with `sign`; from standard
    input such a body cannot go into the printed curl command, and `sign` says so instead of signing a mangled one."""
    body, event_id = harness.stripe_body()
    body = body.replace(b'"user_apache"', b'"caf\xe9"')
    assert b"\xe9" in body
    body_file = site.base / "latin1.json"
    body_file.write_bytes(body)
    url = f"http://127.0.0.1:{site.port}/hooks/verdict.cgi/stripe"
    verdict = str(site.verdict_dir / "verdict")
    signed = subprocess.run([verdict, "sign", "--endpoint", "stripe", "--config", str(site.config), "--url", url,
                             str(body_file)], capture_output=True, text=True, timeout=30, cwd=site.base)
    assert signed.returncode == 0, signed.stderr
    delivered = subprocess.run(["sh", "-c", signed.stdout], capture_output=True, timeout=30, cwd=site.base)
    answer = json.loads(delivered.stdout)
    assert answer["error"] == "invalid_utf8", answer  # signed correctly: not refused as a bad signature
    assert records_for(site, "event_id", event_id) == []

    refused = subprocess.run([verdict, "sign", "--endpoint", "stripe", "--config", str(site.config), "--url", url],
                             input=body, capture_output=True, timeout=30)
    assert refused.returncode == 64 and refused.stdout == b"", refused
    assert b"not UTF-8" in refused.stderr and b"give it as a file" in refused.stderr, refused.stderr


def test_fcgid_keeps_one_persistent_fastcgi_process(site):
    site.request("GET", "/hooks/verdict.fcgi/healthz")
    first = site.verdict_processes()
    assert len(first) == 1, f"verdict processes after one mod_fcgid request: {first}"
    for pid in first:  # a FastCGI process holds its listening socket on fd 0
        assert stat.S_ISSOCK(os.stat(f"/proc/{pid}/fd/0").st_mode)
    for _ in range(5):
        body, _ = harness.stripe_body()
        assert site.request("POST", "/hooks/verdict.fcgi/stripe", body, harness.stripe_headers(body)).status == 200
    assert site.verdict_processes() == first


# -- documented errors -------------------------------------------------------------------------------------------


def test_bad_signatures_are_401_and_log_nothing(site, handler):
    before = site.log_lines()
    body, _ = harness.veriff_body()
    answer = site.request("POST", f"{handler}/veriff", body, harness.veriff_headers(body, secret="wrong-secret"))
    assert answer.status == 401, answer
    assert answer.json()["error"] == "signature_mismatch"
    body, _ = harness.stripe_body()
    answer = site.request("POST", f"{handler}/stripe", body, harness.stripe_headers(body, secret="whsec_wrong"))
    assert answer.status == 401, answer
    assert answer.json()["error"] == "signature_mismatch"
    answer = site.request("POST", f"{handler}/stripe", body, {"Content-Type": "application/json"})
    assert answer.status == 401, answer
    assert answer.json()["error"] == "missing_signature"
    assert site.log_lines() == before


def test_body_over_max_body_bytes_is_413_from_verdict(site, handler):
    body = b'{"pad":"' + b"x" * (harness.MAX_BODY_BYTES + 1000) + b'"}'
    assert len(body) < 131072  # under mod_fcgid's default FcgidMaxRequestLen: Verdict sees the request
    answer = site.request("POST", f"{handler}/stripe", body, harness.stripe_headers(body))
    assert answer.status == 413, answer
    assert answer.header("Content-Type") == "application/json"
    assert answer.json()["error"] == "body_too_large"


def test_body_over_fcgid_max_request_len_is_apaches_own_500(site):
    body = b'{"pad":"' + b"x" * 200_000 + b'"}'
    answer = site.request("POST", "/hooks/verdict.fcgi/stripe", body, harness.stripe_headers(body))
    assert answer.status == 500, answer
    assert answer.header("Content-Type") != "application/json"  # Apache's HTML page, not Verdict's answer
    assert "exceeds MaxRequestLen (131072)" in site.read_error_log()


def test_body_over_fcgid_limit_through_cgi_is_still_verdicts_413(site):
    body = b'{"pad":"' + b"x" * 200_000 + b'"}'
    answer = site.request("POST", "/hooks/verdict.cgi/stripe", body, harness.stripe_headers(body))
    assert answer.status == 413, answer
    assert answer.json()["error"] == "body_too_large"


def test_chunked_delivery_is_measured_and_logged_once(site, handler):
    """mod_cgid passes a chunked body without CONTENT_LENGTH (Verdict measures it); mod_fcgid measures it first."""
    body, event_id = harness.stripe_body()
    answer = site.request("POST", f"{handler}/stripe", body, harness.stripe_headers(body), chunked=True)
    assert answer.status == 200, answer
    assert answer.json()["event_id"] == event_id
    assert len(records_for(site, "event_id", event_id)) == 1


def test_chunked_body_over_max_body_bytes_is_413_and_answered_whole(site):
    """Larger than a socket's buffer: Apache can only finish passing it on, and then read the answer, if Verdict
    reads it all."""
    before, errors_before = site.log_lines(), len(site.read_error_log())
    for size in (harness.MAX_BODY_BYTES + 1, 1_000_000):
        body = b'{"pad":"' + b"x" * size + b'"}'
        answer = site.request("POST", "/hooks/verdict.cgi/stripe", body, harness.stripe_headers(body), chunked=True)
        assert answer.status == 413, (size, answer)
        assert answer.json()["error"] == "body_too_large"
    assert site.log_lines() == before
    assert "Broken pipe" not in site.read_error_log()[errors_before:]


def test_wrong_methods_are_405_with_allow(site, handler):
    for method in ("GET", "PUT", "DELETE"):
        answer = site.request(method, f"{handler}/veriff")
        assert answer.status == 405, (method, str(answer))
        assert answer.header("Allow") == "POST"
        assert answer.json()["error"] == "method_not_allowed"
    answer = site.request("POST", f"{handler}/healthz", b"{}", {"Content-Type": "application/json"})
    assert answer.status == 405, answer
    assert answer.header("Allow") == "GET, HEAD"


# -- safe defaults ------------------------------------------------------------------------------------------------


def assert_refused(site: harness.ApacheSite, handler: str, file: Path) -> None:
    """The request fails with 500/503 and the error log says `chmod 600 <file>` for exactly this file, mode 0644."""
    body, _ = harness.stripe_body()
    answer = site.request("POST", f"{handler}/stripe", body, harness.stripe_headers(body))
    assert answer.status in (500, 503), answer

    def advice() -> list[str]:
        return [path for path in re.findall(r"chmod 600 (\S+)", site.read_error_log())
                if os.path.realpath(path) == os.path.realpath(file)]

    deadline = time.monotonic() + 30  # Apache copies the process's stderr into its log a little later (slow under load)
    while not advice() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = site.read_error_log()
    assert advice(), log[-3000:]
    assert "0644" in log, log[-3000:]
    assert site.log_lines() == 0


@pytest.mark.parametrize("mode", sorted(HANDLERS))
def test_config_with_inline_secret_readable_by_others_is_refused(fresh_site, mode):
    os.chmod(fresh_site.config, 0o644)
    fresh_site.start()
    assert_refused(fresh_site, HANDLERS[mode], fresh_site.config)


@pytest.mark.parametrize("mode", sorted(HANDLERS))
def test_secret_file_readable_by_others_is_refused(fresh_site, mode):
    os.chmod(fresh_site.secret_file, 0o644)
    fresh_site.start()
    assert_refused(fresh_site, HANDLERS[mode], fresh_site.secret_file)


def test_log_directory_and_files_are_private(site):
    body, _ = harness.stripe_body()
    assert site.request("POST", "/hooks/verdict.cgi/stripe", body, harness.stripe_headers(body)).status == 200
    assert stat.S_IMODE(site.log_dir.stat().st_mode) == 0o750
    assert stat.S_IMODE((site.log_dir / ".verdict").stat().st_mode) == 0o700
    logs = list(site.log_dir.glob("decisions-*.jsonl"))
    assert logs
    for file in logs:
        assert stat.S_IMODE(file.stat().st_mode) == 0o640, file
    for path in site.log_dir.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o007 == 0, f"{path} is open to other users"


def test_nothing_verdict_writes_is_served(site):
    body, event_id = harness.stripe_body()
    assert site.request("POST", "/hooks/verdict.cgi/stripe", body, harness.stripe_headers(body)).status == 200
    written = [path for path in site.verdict_dir.rglob("*") if path.is_file()]
    assert any(path.name.startswith("decisions-") for path in written)
    for path in written:
        relative = path.relative_to(site.home).as_posix()  # e.g. verdict/log/decisions-2026-01-01.jsonl
        for url in (f"/{relative}", f"/hooks/../../{relative}", f"/%2e%2e/{relative}", f"/hooks/{path.name}",
                    f"/hooks/verdict.cgi/../../../{relative}"):
            answer = site.request("GET", url)
            assert answer.status in (400, 403, 404), (url, str(answer))
            assert event_id.encode() not in answer.body and harness.STRIPE_SECRET.encode() not in answer.body

    # Should a customer copy them into the web root by mistake, the .htaccess still refuses to serve them.
    log = next(site.log_dir.glob("decisions-*.jsonl"))
    for source in (site.config, site.secret_file, log):
        shutil.copy(source, site.hooks / source.name)
        os.chmod(site.hooks / source.name, 0o644)
    shutil.copytree(site.log_dir / ".verdict", site.hooks / ".verdict")
    site.chown_home()
    try:
        for name in (site.config.name, site.secret_file.name, log.name):
            answer = site.request("GET", f"/hooks/{name}")
            assert answer.status == 403, (name, str(answer))
        for inner in (site.hooks / ".verdict").rglob("*"):
            answer = site.request("GET", "/hooks/.verdict/" + inner.relative_to(site.hooks / ".verdict").as_posix())
            assert answer.status == 403, (inner, str(answer))
    finally:
        for source in (site.config, site.secret_file, log):
            (site.hooks / source.name).unlink()
        shutil.rmtree(site.hooks / ".verdict")


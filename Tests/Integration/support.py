"""Helpers for Verdict's integration tests: real nginx with TLS on a loopback port in front of real Verdict
FastCGI workers, started either by `verdict serve --processes N` or by `spawn-fcgi -F N` (socket on fd 0).

Everything lives in the test's tmp_path: config (mode 600), secret file (mode 600), TLS pair, nginx config
rendered from nginx/nginx.conf.template + nginx/verdict-location.conf, the unix socket, the decision log.
Only the standard library, pytest and jsonschema.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import grp
import hashlib
import hmac
import http.client
import json
import os
import pwd
import random
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time
import uuid
from pathlib import Path

import jsonschema

REPO = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO / "Config" / "verdict-record.schema.json"
TEMPLATE = REPO / "nginx" / "nginx.conf.template"
LOCATION_SNIPPET = REPO / "nginx" / "verdict-location.conf"
FASTCGI_PARAMS = Path("/etc/nginx/fastcgi_params")

MODES = ["serve", "spawn-fcgi"]

# Demo secrets of the test configuration. Veriff's come from a secret file holding two (rotation).
VERIFF_SECRETS = ["it-veriff-old-3f1c2a9e-secret", "it-veriff-new-8b7d6c5a-secret"]
VERIFF_AUTH_CLIENT = "it-veriff-api-key-0001"
STRIPE_SECRETS = ["whsec_it_current_secret_0123456789abcdef", "whsec_it_previous_secret_fedcba9876543210"]
STRIPE_TOLERANCE = 300


def set_subreaper(on: bool) -> bool:
    """PR_SET_CHILD_SUBREAPER (36): while on, orphans of our descendants become our children. Turned on only
    around spawn-fcgi, which forks the workers and exits: they stay our children, so their exit status can be
    collected with waitpid, and no other test's daemons are adopted. False when unsupported."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(36, int(on), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


SUBREAPER = set_subreaper(False)


# ---------------------------------------------------------------------------------------------------------------
# Signing (HMAC-SHA256, lowercase hex), independent of the binary's own `verdict sign`.
# ---------------------------------------------------------------------------------------------------------------


def veriff_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def stripe_signature_header(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class Signer:
    """Headers a provider would send for a body."""

    @staticmethod
    def veriff(body: bytes, secret: str = VERIFF_SECRETS[-1], auth_client: str | None = VERIFF_AUTH_CLIENT) -> dict:
        headers = {"X-HMAC-SIGNATURE": veriff_signature(secret, body)}
        if auth_client is not None:
            headers["X-AUTH-CLIENT"] = auth_client
        return headers

    @staticmethod
    def stripe(body: bytes, timestamp: int | None = None, secret: str = STRIPE_SECRETS[0]) -> dict:
        t = int(time.time()) if timestamp is None else timestamp
        return {"Stripe-Signature": stripe_signature_header(secret, body, t)}


# ---------------------------------------------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------------------------------------------


def compact(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def iso_ms(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + (
        "%03dZ" % int((seconds % 1) * 1000)
    )


def veriff_decision(status: str = "approved", code: int | None = 9001, **overrides) -> dict:
    """A Veriff decision webhook (verification object), each call a new session."""
    verification = {
        "id": str(uuid.uuid4()),
        "attemptId": str(uuid.uuid4()),
        "vendorData": f"customer-{random.randrange(10**6)}",
        "endUserId": str(uuid.uuid4()),
        "status": status,
        "code": code,
        "reason": None,
        "reasonCode": None,
        "decisionTime": iso_ms(time.time()),
        "acceptanceTime": iso_ms(time.time() - 300),
        "person": {"firstName": "SARAH", "lastName": "MORGAN", "dateOfBirth": "1967-03-30", "idNumber": None},
        "document": {"type": "DRIVERS_LICENSE", "number": "MORGA753116SM9IJ", "country": "GB"},
        "additionalVerifiedData": {},
    }
    verification.update(overrides)
    return {"status": "success", "verification": verification, "technicalData": {"ip": "192.0.2.10"}}


def stripe_event(
    status: str = "verified",
    type_suffix: str | None = None,
    last_error: dict | None = None,
    event_type: str | None = None,
) -> dict:
    """A Stripe Identity VerificationSession event, each call a new event and session."""
    now = int(time.time())
    return {
        "id": "evt_" + uuid.uuid4().hex[:24],
        "object": "event",
        "api_version": "2024-06-20",
        "created": now,
        "data": {
            "object": {
                "id": "vs_" + uuid.uuid4().hex[:24],
                "object": "identity.verification_session",
                "client_reference_id": f"user-{random.randrange(10**6)}",
                "client_secret": "vs_secret_" + uuid.uuid4().hex,
                "created": now - 60,
                "last_error": last_error,
                "livemode": False,
                "metadata": {"order": str(random.randrange(10**6))},
                "status": status,
                "type": "document",
                "url": "https://verify.stripe.com/start/" + uuid.uuid4().hex,
            }
        },
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type or "identity.verification_session." + (type_suffix or status),
    }


# ---------------------------------------------------------------------------------------------------------------
# The decision log: every line is checked against the schema and the contract's framing and field order.
# ---------------------------------------------------------------------------------------------------------------

SCHEMA = json.loads(SCHEMA_PATH.read_text())
jsonschema.Draft202012Validator.check_schema(SCHEMA)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
FIELD_ORDER = list(SCHEMA["properties"])


def _pairs_no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate key in a log line: {keys}"
    return dict(pairs)


class DecisionLog:
    """Reads <log_dir>/decisions-*.jsonl; every read validates every line."""

    def __init__(self, directory: Path):
        self.directory = directory

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("decisions-*.jsonl"))

    def _lines(self):
        """(where, day, line without its \\n) for every line, after checking the framing of each file."""
        for path in self.files():
            data = path.read_bytes()
            if not data:
                continue
            assert data.endswith(b"\n"), f"{path.name}: last line is not newline-terminated (torn write?)"
            day = path.name[len("decisions-") : -len(".jsonl")]
            for number, line in enumerate(data.split(b"\n")[:-1], 1):
                where = f"{path.name}:{number}"
                assert line, f"{where}: empty line"
                yield where, day, line

    def raw_lines(self) -> list[bytes]:
        return [line + b"\n" for _, _, line in self._lines()]

    CUT_SHORT_MARK = b" (cut short)"

    @classmethod
    def _cut_short(cls, line: bytes) -> bool:
        """What a writer stopped mid-line leaves, ended with a mark and a newline by the next append."""
        return line.startswith(b"{") and line.endswith(cls.CUT_SHORT_MARK) and len(line) > len(cls.CUT_SHORT_MARK)

    def cut_short(self) -> list[str]:
        """Where the lines cut short are (file:line)."""
        return [where for where, _, line in self._lines() if self._cut_short(line)]

    def records(self, cut_short_allowed: bool = False) -> list[dict]:
        """Every record; a line cut short fails the test unless `cut_short_allowed` (then it is skipped)."""
        records = []
        for where, day, line in self._lines():
            if cut_short_allowed and self._cut_short(line):
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as error:
                raise AssertionError(f"{where}: not UTF-8: {error}") from None
            try:
                pairs = json.loads(text, object_pairs_hook=lambda p: p)
                record = json.loads(text, object_pairs_hook=_pairs_no_duplicates)
            except json.JSONDecodeError as error:
                raise AssertionError(f"{where}: not one JSON object ({error}): {text[:200]!r}") from None
            assert isinstance(record, dict), f"{where}: not a JSON object"
            errors = sorted(VALIDATOR.iter_errors(record), key=lambda e: list(map(str, e.path)))
            assert not errors, f"{where}: schema violations: " + "; ".join(
                f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors[:5]
            )
            assert [k for k, _ in pairs] == FIELD_ORDER, f"{where}: fields out of contract order"
            assert record["received_at"][:10] == day, f"{where}: received_at is not in the file's UTC day"
            records.append(record)
        return records


# ---------------------------------------------------------------------------------------------------------------
# HTTPS client
# ---------------------------------------------------------------------------------------------------------------


class Response:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        assert "application/json" in (self.headers.get("Content-Type") or ""), (
            f"Content-Type {self.headers.get('Content-Type')!r}, body {self.body[:200]!r}"
        )
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:300]!r}>"


def https_request(conn: http.client.HTTPSConnection, method: str, path: str, body: bytes | None = None,
                  headers: dict | None = None) -> Response:
    all_headers = {"Content-Type": "application/json", "User-Agent": "verdict-integration-tests"}
    all_headers.update(headers or {})
    if body is None and method in ("GET", "HEAD", "DELETE"):
        all_headers.pop("Content-Type")
    conn.request(method, path, body=body, headers=all_headers)
    response = conn.getresponse()
    data = response.read()
    return Response(response.status, response.msg, data)


# ---------------------------------------------------------------------------------------------------------------
# Minimal FastCGI client, to hold a request open inside a worker (nginx buffers whole bodies).
# ---------------------------------------------------------------------------------------------------------------

FCGI_BEGIN_REQUEST, FCGI_END_REQUEST, FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT, FCGI_STDERR = 1, 3, 4, 5, 6, 7


def _fcgi_record(kind: int, content: bytes, request_id: int = 1) -> bytes:
    padding = (-len(content)) % 8
    return struct.pack("!BBHHBx", 1, kind, request_id, len(content), padding) + content + b"\0" * padding


def _stdin_records(data: bytes) -> bytes:
    return b"".join(_fcgi_record(FCGI_STDIN, data[start : start + 65535]) for start in range(0, len(data), 65535))


def _fcgi_length(n: int) -> bytes:
    return bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)


FCGI_KEEP_CONN = 1


class FastCGIClient:
    """With `keep_conn`, every request asks the worker to leave the connection open (FCGI_KEEP_CONN), as nginx does
    with `fastcgi_keep_conn on`."""

    def __init__(self, socket_path: Path | tuple[str, int], timeout: float = 20, keep_conn: bool = False,
                 source: str | None = None):
        """`socket_path`: a unix socket, or a TCP (host, port), connected to from `source` when given."""
        if isinstance(socket_path, tuple):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if source is not None:
                self.sock.bind((source, 0))
            self.sock.settimeout(timeout)
            self.sock.connect(socket_path)
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(str(socket_path))
        self.keep_conn = keep_conn

    def _begin_records(self, params: dict[str, str]) -> bytes:
        encoded = b"".join(
            _fcgi_length(len(k.encode())) + _fcgi_length(len(v.encode())) + k.encode() + v.encode()
            for k, v in params.items()
        )
        flags = FCGI_KEEP_CONN if self.keep_conn else 0
        return (
            _fcgi_record(FCGI_BEGIN_REQUEST, struct.pack("!HB5x", 1, flags))
            + _fcgi_record(FCGI_PARAMS, encoded)
            + _fcgi_record(FCGI_PARAMS, b"")
        )

    def begin(self, params: dict[str, str]) -> None:
        self.sock.sendall(self._begin_records(params))

    def send_whole_request(self, params: dict[str, str], body: bytes, after: bytes = b"") -> None:
        """The whole request, then `after` as more stdin records, in one write: all of it is queued at the worker
        before the worker can answer."""
        self.sock.sendall(
            self._begin_records(params) + _stdin_records(body) + _fcgi_record(FCGI_STDIN, b"") + _stdin_records(after)
        )

    def send_stdin(self, data: bytes) -> None:
        self.sock.sendall(_stdin_records(data))

    def end_stdin(self) -> None:
        self.sock.sendall(_fcgi_record(FCGI_STDIN, b""))

    def _read_exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError(f"FastCGI connection closed after {len(data)} of {n} bytes")
            data += chunk
        return data

    def read_response(self) -> tuple[int, dict[str, str], bytes]:
        stdout = b""
        while True:
            _, kind, _, length, padding = struct.unpack("!BBHHBx", self._read_exactly(8))
            content = self._read_exactly(length + padding)[:length]
            if kind == FCGI_STDOUT:
                stdout += content
            elif kind == FCGI_END_REQUEST:
                break
        head, _, body = stdout.partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        status = int(headers.get("status", "200").split()[0])
        return status, headers, body

    def close(self) -> None:
        self.sock.close()


def fastcgi_params(method: str, uri: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
    """The parameters nginx's fastcgi_params would send."""
    params = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_SOFTWARE": "verdict-integration-tests",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REQUEST_SCHEME": "https",
        "HTTPS": "on",
        "REQUEST_METHOD": method,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "SCRIPT_NAME": uri,
        "REQUEST_URI": uri,
        "DOCUMENT_URI": uri,
        "DOCUMENT_ROOT": "/nonexistent",
        "QUERY_STRING": "",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "SERVER_ADDR": "127.0.0.1",
        "SERVER_PORT": "443",
        "SERVER_NAME": "localhost",
    }
    for name, value in headers.items():
        params["HTTP_" + name.upper().replace("-", "_")] = value
    return params


# ---------------------------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------------------------


def binary() -> Path:
    path = Path(os.environ.get("VERDICT_BIN") or REPO / ".build" / "debug" / "verdict")
    if not path.is_absolute():
        path = REPO / path
    return path


def wait_for(condition, timeout: float, what: str, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_exit(pid: int, timeout: float) -> int | None:
    """Exit status of our child (or adopted orphan) `pid`, or None if still running after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except FileNotFoundError:
            pass
    return found


_next_port = 18000 + (os.getpid() * 37) % 1900


def free_port() -> int:
    """A port in 18000-19999 that is free on 127.0.0.1 right now."""
    global _next_port
    for _ in range(2000):
        port = _next_port
        _next_port = 18000 + (_next_port - 18000 + 1) % 2000
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in 18000-19999")


def write_config(directory: Path, max_body_bytes: int | None = None, fsync: bool = True) -> Path:
    """Config with relative paths (log_dir, secret_files), both files mode 600. With fsync = false, the threads
    setting is left to its default, as most such setups would."""
    secrets = directory / "secrets"
    secrets.mkdir(mode=0o700)
    secret_file = secrets / "veriff.secret"
    secret_file.write_text("# rotation: old and new\n" + "\n".join(VERIFF_SECRETS) + "\n")
    secret_file.chmod(0o600)
    lines = ['log_dir = "log"'] + (["threads = 4", "fsync = true"] if fsync else ["fsync = false"])
    if max_body_bytes is not None:
        lines.append(f"max_body_bytes = {max_body_bytes}")
    lines += [
        "",
        "[[endpoint]]",
        'name = "veriff"',
        'provider = "veriff"',
        'secret_files = ["secrets/veriff.secret"]',
        f'auth_client = "{VERIFF_AUTH_CLIENT}"',
        "",
        "[[endpoint]]",
        'name = "stripe"',
        'provider = "stripe"',
        "secrets = [" + ", ".join(f'"{s}"' for s in STRIPE_SECRETS) + "]",
        f"tolerance_seconds = {STRIPE_TOLERANCE}",
        "",
    ]
    config = directory / "verdict.toml"
    config.write_text("\n".join(lines))
    config.chmod(0o600)
    return config


class Stack:
    """nginx (TLS, 127.0.0.1:<port>) -> unix socket -> Verdict workers started in `mode`."""

    def __init__(self, root: Path, mode: str, workers: int, tls: dict[str, Path], max_body_bytes: int | None,
                 umask: int | None, fsync: bool = True, keep_conn: bool = False):
        assert mode in MODES
        self.root = root
        self.keep_conn = keep_conn
        self.mode = mode
        self.workers = workers
        self.umask = umask
        self.config = write_config(root, max_body_bytes, fsync)
        self.log_dir = root / "log"
        self.log = DecisionLog(self.log_dir)
        self.socket = root / "verdict.sock"
        assert len(str(self.socket)) < 100, f"unix socket path too long: {self.socket}"
        self.tls_dir = root / "tls"
        self.tls_dir.mkdir()
        shutil.copy(tls["cert"], self.tls_dir / "cert.pem")
        shutil.copy(tls["key"], self.tls_dir / "key.pem")
        self.cafile = self.tls_dir / "cert.pem"
        self.supervisor: subprocess.Popen | None = None
        self.worker_pids: list[int] = []
        self.nginx: subprocess.Popen | None = None
        self.port = 0
        self._connection: http.client.HTTPSConnection | None = None
        self.ssl_context = ssl.create_default_context(cafile=str(self.cafile))

    # --- Verdict -------------------------------------------------------------------------------------------------
    def start_verdict(self) -> None:
        bin_path = str(binary())
        out = open(self.root / "verdict.out", "ab")
        if self.mode == "serve":
            self.supervisor = subprocess.Popen(
                [bin_path, "serve", "--socket", str(self.socket), "--processes", str(self.workers),
                 "--config", str(self.config)],
                cwd="/", stdin=subprocess.DEVNULL, stdout=out, stderr=out, umask=self.umask if self.umask is not None else -1,
            )
            wait_for(lambda: self.socket.is_socket() or self.supervisor.poll() is not None, 15, "verdict serve socket")
            assert self.supervisor.poll() is None, f"verdict serve exited {self.supervisor.returncode}: {self.output()}"
            if self.workers > 1:  
                wait_for(lambda: len(children_of(self.supervisor.pid)) >= self.workers, 15, "verdict serve workers")
        else:
            pidfile = self.root / "spawn-fcgi.pid"
            set_subreaper(True)
            try:
                result = subprocess.run(
                    ["spawn-fcgi", "-s", str(self.socket), "-M", "0660", "-F", str(self.workers), "-P", str(pidfile),
                     "--", bin_path, "--config", str(self.config)],
                    cwd="/", stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                    umask=self.umask if self.umask is not None else -1, timeout=30,
                )
            finally:
                set_subreaper(False)
            assert result.returncode == 0, f"spawn-fcgi failed ({result.returncode}): {self.output()}"
            self.worker_pids = [int(p) for p in pidfile.read_text().split()]
            assert len(self.worker_pids) == self.workers, f"spawn-fcgi pid file: {self.worker_pids}"
            time.sleep(0.1)
            dead = [pid for pid in self.worker_pids if not pid_alive(pid)]
            assert not dead, f"workers {dead} exited at start: {self.output()}"

    def output(self) -> str:
        try:
            return (self.root / "verdict.out").read_text(errors="replace")[-3000:]
        except FileNotFoundError:
            return ""

    def stop_verdict(self) -> None:
        if self.supervisor is not None and self.supervisor.poll() is None:
            self.supervisor.send_signal(signal.SIGTERM)
            try:
                self.supervisor.wait(20)
            except subprocess.TimeoutExpired:
                self.supervisor.kill()
                self.supervisor.wait()
        for pid in self.worker_pids:
            if pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for pid in self.worker_pids:
            if wait_exit(pid, 20) is None and pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
                wait_exit(pid, 5)

    # --- nginx ---------------------------------------------------------------------------------------------------
    def render_nginx(self) -> Path:
        snippet = LOCATION_SNIPPET.read_text()
        assert "unix:/run/verdict/verdict.sock" in snippet and "include fastcgi_params;" in snippet
        snippet = snippet.replace("unix:/run/verdict/verdict.sock", f"unix:{self.socket}")
        snippet = snippet.replace("include fastcgi_params;", f"include {FASTCGI_PARAMS};")
        if self.keep_conn:
            # nginx's usual tuning: an upstream with a pool of kept connections, asked to stay open.
            snippet = snippet.replace(f"fastcgi_pass unix:{self.socket};",
                                      "fastcgi_pass verdict_kept;\n    fastcgi_keep_conn on;")
        (self.root / "verdict-location.conf").write_text(snippet)
        (self.root / "nginx-temp").mkdir(exist_ok=True)
        user = f"{pwd.getpwuid(os.getuid()).pw_name} {grp.getgrgid(os.getgid()).gr_name}"
        conf = (TEMPLATE.read_text().replace("@RUN_DIR@", str(self.root)).replace("@PORT@", str(self.port))
                .replace("@USER@", user))
        if self.keep_conn:
            conf = conf.replace("    keepalive_timeout 30s;",
                                f"    upstream verdict_kept {{\n        server unix:{self.socket};\n        keepalive 16;\n    }}\n"
                                "    keepalive_timeout 30s;")
            assert "verdict_kept {" in conf
        assert "@" not in "".join(l.split("#")[0] for l in conf.splitlines()), "unrendered placeholder"
        path = self.root / "nginx.conf"
        path.write_text(conf)
        return path

    def start_nginx(self) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        for attempt in range(3):
            self.port = free_port()
            conf = self.render_nginx()
            self.nginx = subprocess.Popen(
                [nginx, "-p", str(self.root), "-c", str(conf), "-e", str(self.root / "nginx-error.log"),
                 "-g", "daemon off;"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )

            def listening():
                if self.nginx.poll() is not None:
                    return "exited"
                with socket.socket() as probe:
                    probe.settimeout(0.2)
                    return "up" if probe.connect_ex(("127.0.0.1", self.port)) == 0 else None

            state = wait_for(listening, 10, "nginx to listen")
            if state == "up":
                return
            error = self.nginx.stderr.read().decode(errors="replace")
            if "Address already in use" not in error or attempt == 2:
                raise AssertionError(f"nginx failed: {error}")

    def stop_nginx(self) -> None:
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait()

    # --- whole stack ---------------------------------------------------------------------------------------------
    def start(self) -> "Stack":
        self.start_verdict()
        self.start_nginx()
        wait_for(lambda: self._healthy(), 15, f"healthz 200 through nginx ({self.mode})", interval=0.05)
        return self

    def _healthy(self) -> bool:
        try:
            return self.request("GET", "/webhooks/healthz", fresh=True).status == 200
        except (OSError, http.client.HTTPException):
            return False

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self.stop_nginx()
        self.stop_verdict()

    def connection(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ssl_context, timeout=30)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                fresh: bool = False) -> Response:
        if fresh:
            conn = self.connection()
            try:
                return https_request(conn, method, path, body, headers)
            finally:
                conn.close()
        if self._connection is None:
            self._connection = self.connection()
        try:
            return https_request(self._connection, method, path, body, headers)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self._connection.close()
            self._connection = self.connection()
            return https_request(self._connection, method, path, body, headers)

    def post(self, endpoint: str, body: bytes, headers: dict | None = None) -> Response:
        return self.request("POST", f"/webhooks/{endpoint}", body, headers)



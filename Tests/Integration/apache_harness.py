"""A throwaway Debian apache2 serving a shared-hosting home, for Tests/Integration/test_apache.py.

Layout (the one README "Shared hosting" documents; Config/apache/ holds the files the customer uploads):

    <base>/server/                 ServerRoot: httpd.conf, logs/error_log, run/ (pid, cgid socket, fcgid IPC)
    <base>/home/alice/             the customer's home (owned by Apache's User when the tests run as root)
        verdict/verdict            the binary under test (a copy)          0755
        verdict/verdict.toml       config with an inline Stripe secret      0600
        verdict/secrets/veriff.secret                                       0600
        verdict/log/               created by Verdict                       0750
        public_html/               DocumentRoot
        public_html/hooks/.htaccess        Config/apache/.htaccess
        public_html/hooks/verdict.cgi      Config/apache/verdict.cgi  (mod_cgid, once per request)
        public_html/hooks/verdict.fcgi     the same wrapper           (mod_fcgid, persistent FastCGI)

The server side is Config/apache/shared-hosting-vhost.conf, included verbatim except for the home path and port.
Only the standard library is used.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import pwd
import grp
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
APACHE_CONFIG = REPO / "Config" / "apache"
MODULES_DIR = Path("/usr/lib/apache2/modules")
# Debian's apache2 has log_config and unixd built in; everything else is loaded from MODULES_DIR.
MODULES = ["mpm_event", "authz_core", "mime", "dir", "alias", "env", "rewrite", "cgid", "fcgid"]

STRIPE_SECRET = "whsec_apache_integration_secret"
VERIFF_SECRET = "abcdef12-abcd-abcd-abcd-abcdef012345"
MAX_BODY_BYTES = 65536  # below mod_fcgid's FcgidMaxRequestLen (131072), so Verdict's own 413 is reachable

CONFIG_TEMPLATE = """\
# written by Tests/Integration/apache_harness.py
log_dir = "log"
max_body_bytes = {max_body_bytes}
fsync = true
threads = 4

[[endpoint]]
name = "veriff"
provider = "veriff"
secret_files = ["secrets/veriff.secret"]

[[endpoint]]
name = "stripe"
provider = "stripe"
secrets = ["{stripe_secret}"]
tolerance_seconds = 300
"""


def find_verdict_binary() -> Path | None:
    """$VERDICT_STATIC_BIN, $VERDICT_BIN, then .build/release/verdict, .build/debug/verdict."""
    for variable in ("VERDICT_STATIC_BIN", "VERDICT_BIN"):
        value = os.environ.get(variable)
        if value:
            return Path(value).resolve()
    for candidate in (REPO / ".build/release/verdict", REPO / ".build/debug/verdict"):
        if candidate.is_file():
            return candidate
    return None


def free_port() -> int:
    """A free loopback TCP port in 19000-19999."""
    ports = list(range(19000, 20000))
    random.shuffle(ports)
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 19000-19999")


def alive(pid: int) -> bool:
    """Whether pid runs (a zombie waiting for init to reap it does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


# ---------------------------------------------------------------------------------------------------------------
# Signed bodies, computed here with hmac (independently of Verdict's own code).


def stripe_body(status: str = "verified", event_id: str | None = None) -> tuple[bytes, str]:
    """A Stripe Identity event body and its id."""
    event_id = event_id or "evt_" + uuid.uuid4().hex[:24]
    now = int(time.time())
    event = {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": now,
        "data": {"object": {
            "id": "vs_" + uuid.uuid4().hex[:24],
            "object": "identity.verification_session",
            "client_reference_id": "user_apache",
            "created": now - 60,
            "last_error": None,
            "livemode": False,
            "metadata": {"test": "apache"},
            "status": status,
            "type": "document",
        }},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": f"identity.verification_session.{status}",
    }
    return json.dumps(event, separators=(",", ":")).encode(), event_id


def stripe_headers(body: bytes, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "Stripe-Signature": f"t={timestamp},v1={mac}"}


def veriff_body(session_id: str | None = None) -> tuple[bytes, str]:
    """A Veriff approved decision body and its session id."""
    session_id = session_id or str(uuid.uuid4())
    decision = {
        "status": "success",
        "verification": {
            "id": session_id,
            "attemptId": str(uuid.uuid4()),
            "vendorData": "user-apache",
            "endUserId": None,
            "status": "approved",
            "code": 9001,
            "reason": None,
            "reasonCode": None,
            "decisionTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "acceptanceTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 300)),
            "person": {"firstName": "SARAH", "lastName": "MORGAN", "dateOfBirth": "1967-03-30", "idNumber": None},
            "document": {"type": "DRIVERS_LICENSE", "number": "MORGA753116SM9IJ", "country": "GB",
                         "validUntil": "2030-04-20"},
            "additionalVerifiedData": {},
        },
        "technicalData": {"ip": "186.153.67.122"},
    }
    return json.dumps(decision, separators=(",", ":")).encode(), session_id


def veriff_headers(body: bytes, secret: str = VERIFF_SECRET) -> dict[str, str]:
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-HMAC-SIGNATURE": mac}


# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def __str__(self) -> str:  # shows up in assertion messages
        return f"{self.status} {self.headers.get('content-type')} {self.body[:300]!r}"


@dataclass
class ApacheSite:
    verdict_binary: Path
    base: Path = field(init=False)
    port: int = field(init=False, default=0)
    running: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="verdict-apache-"))
        # Apache's User must reach the home through the temporary directory.
        os.chmod(self.base, 0o755)
        self.server_root = self.base / "server"
        self.home = self.base / "home" / "alice"
        self.verdict_dir = self.home / "verdict"
        self.config = self.verdict_dir / "verdict.toml"
        self.secret_file = self.verdict_dir / "secrets" / "veriff.secret"
        self.log_dir = self.verdict_dir / "log"
        self.docroot = self.home / "public_html"
        self.hooks = self.docroot / "hooks"
        self.error_log = self.server_root / "logs" / "error_log"
        self.as_root = os.geteuid() == 0
        if self.as_root:
            self.user = pwd.getpwnam("www-data").pw_name
            self.group = grp.getgrgid(pwd.getpwnam("www-data").pw_gid).gr_name
        self._lay_out_home()
        self._write_server_config()

    # -- layout ---------------------------------------------------------------------------------------------

    def _lay_out_home(self) -> None:
        self.hooks.mkdir(parents=True)
        (self.verdict_dir / "secrets").mkdir(parents=True)
        os.chmod(self.home, 0o711)
        os.chmod(self.verdict_dir, 0o700)
        os.chmod(self.verdict_dir / "secrets", 0o700)
        shutil.copy2(self.verdict_binary, self.verdict_dir / "verdict")
        os.chmod(self.verdict_dir / "verdict", 0o755)
        self.config.write_text(CONFIG_TEMPLATE.format(max_body_bytes=MAX_BODY_BYTES, stripe_secret=STRIPE_SECRET))
        os.chmod(self.config, 0o600)
        self.secret_file.write_text(VERIFF_SECRET + "\n")
        os.chmod(self.secret_file, 0o600)
        shutil.copy(APACHE_CONFIG / ".htaccess", self.hooks / ".htaccess")
        os.chmod(self.hooks / ".htaccess", 0o644)
        for name in ("verdict.cgi", "verdict.fcgi"):
            shutil.copy(APACHE_CONFIG / "verdict.cgi", self.hooks / name)
            os.chmod(self.hooks / name, 0o755)
        for directory in (self.docroot, self.hooks):
            os.chmod(directory, 0o755)
        self.chown_home()

    def as_site_user(self):
        """preexec_fn running a command as the home's owner, as the customer would over SSH (or suEXEC would)."""
        if not self.as_root:
            return None
        uid, gid = pwd.getpwnam(self.user).pw_uid, grp.getgrnam(self.group).gr_gid

        def demote() -> None:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

        return demote

    def chown_home(self) -> None:
        """Give the whole home to Apache's User, as suEXEC would run the scripts as the home's owner."""
        if not self.as_root:
            return
        uid, gid = pwd.getpwnam(self.user).pw_uid, grp.getgrnam(self.group).gr_gid
        for path in [self.home, *self.home.rglob("*")]:
            os.lchown(path, uid, gid)

    def _write_server_config(self) -> None:
        self.port = free_port()
        run = self.server_root / "run"
        fcgid = run / "fcgid"
        for directory in (self.server_root / "logs", fcgid):
            directory.mkdir(parents=True, exist_ok=True)
        os.chmod(run, 0o755)
        if self.as_root:
            os.chown(fcgid, pwd.getpwnam(self.user).pw_uid, grp.getgrnam(self.group).gr_gid)
        modules = "\n".join(f"LoadModule {m}_module {MODULES_DIR}/mod_{m}.so" for m in MODULES)
        vhost = (APACHE_CONFIG / "shared-hosting-vhost.conf").read_text()
        vhost = vhost.replace("/home/alice", str(self.home)).replace("<VirtualHost *:80>",
                                                                     f"<VirtualHost 127.0.0.1:{self.port}>")
        user = f"User {self.user}\nGroup {self.group}\n" if self.as_root else ""
        (self.server_root / "httpd.conf").write_text(f"""\
# written by Tests/Integration/apache_harness.py
ServerRoot {self.server_root}
ServerName 127.0.0.1
Listen 127.0.0.1:{self.port}
{modules}
{user}PidFile {run}/httpd.pid
DefaultRuntimeDir {run}
Mutex file:{run} default
ScriptSock {run}/cgid.sock
FcgidIPCDir {fcgid}
FcgidProcessTableFile {run}/fcgid_shm
ErrorLog {self.error_log}
LogLevel info
LogFormat "%h %l %u %t \\"%r\\" %>s %b" common
CustomLog {self.server_root}/logs/access_log common
TypesConfig /etc/mime.types
StartServers 1
ServerLimit 2
ThreadsPerChild 8
MinSpareThreads 1
MaxSpareThreads 16
MaxRequestWorkers 16
Timeout 30
<Directory />
    AllowOverride None
    Require all denied
</Directory>
# As Debian's apache2.conf: never serve .htaccess/.htpasswd.
<FilesMatch "^\\.ht">
    Require all denied
</FilesMatch>

{vhost}
""")

    # -- server ---------------------------------------------------------------------------------------------

    def apachectl(self, action: str) -> subprocess.CompletedProcess:
        return subprocess.run(["apache2", "-d", str(self.server_root), "-f", str(self.server_root / "httpd.conf"),
                               "-k", action], capture_output=True, text=True, timeout=30,
                              env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"})

    def start(self) -> "ApacheSite":
        done = self.apachectl("start")
        if done.returncode != 0:
            raise RuntimeError(f"apache2 did not start: {done.stdout}{done.stderr}\n{self.read_error_log()}")
        self.running = True
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"apache2 does not listen on {self.port}:\n{self.read_error_log()}")

    def pid(self) -> int | None:
        try:
            return int((self.server_root / "run" / "httpd.pid").read_text())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        if not self.running:
            return
        pid = self.pid()
        self.apachectl("stop")
        deadline = time.monotonic() + 15
        while pid and alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid and alive(pid):
            os.kill(pid, signal.SIGKILL)
        # mod_fcgid's process manager ends its applications on stop; make sure none of ours is left behind.
        for process in self.verdict_processes():
            try:
                os.kill(process, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.running = False

    def cleanup(self) -> None:
        self.stop()
        if not os.environ.get("VERDICT_KEEP_APACHE"):
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> "ApacheSite":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()

    # -- observation ----------------------------------------------------------------------------------------

    def read_error_log(self) -> str:
        try:
            return self.error_log.read_text(errors="replace")
        except OSError:
            return ""

    def verdict_processes(self) -> list[int]:
        """Pids of running processes whose executable is this site's copy of verdict."""
        target = str((self.verdict_dir / "verdict").resolve())
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.readlink(entry / "exe") == target and alive(int(entry.name)):
                    pids.append(int(entry.name))
            except OSError:
                continue
        return pids

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
                timeout: float = 30, chunked: bool = False) -> Response:
        """`chunked`: the body goes with Transfer-Encoding: chunked, in 8 KiB chunks, and no Content-Length."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if chunked:
                chunks = (body[i:i + 8192] for i in range(0, len(body), 8192))
                connection.request(method, path, body=chunks, headers=headers or {}, encode_chunked=True)
            else:
                connection.request(method, path, body=body if (body or method in ("POST", "PUT")) else None,
                                   headers=headers or {})
            answer = connection.getresponse()
            return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
        finally:
            connection.close()

    def log_records(self) -> list[dict]:
        """Every record of every decisions-*.jsonl file, in file order."""
        records = []
        for file in sorted(self.log_dir.glob("decisions-*.jsonl")):
            for line in file.read_bytes().split(b"\n"):
                if line:
                    records.append(json.loads(line))
        return records

    def log_lines(self) -> int:
        return len(self.log_records())

"""Process life cycle and file permissions: graceful SIGTERM with a request in flight, worker restarts, modes."""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import resource
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from support import (
    SUBREAPER,
    DecisionLog,
    FastCGIClient,
    Signer,
    binary,
    children_of,
    compact,
    fastcgi_params,
    pid_alive,
    stripe_event,
    veriff_decision,
    wait_exit,
    wait_for,
    write_config,
)


def test_sigterm_lets_the_in_flight_request_finish_and_the_process_exits_0(make_stack, mode):
    """serve: SIGTERM to the supervisor (it stops its worker); spawn-fcgi: SIGTERM to the worker itself.
    The request is held open inside the worker by sending only half its body over the raw FastCGI socket
    (nginx would buffer the body and hide the window)."""
    if mode == "spawn-fcgi" and not SUBREAPER:
        pytest.skip("needs PR_SET_CHILD_SUBREAPER to collect the worker's exit status")
    stack = make_stack(mode, workers=1)
    if mode == "serve":
        target = stack.supervisor.pid
        worker = (children_of(target) or [target])[0]  # with one process, serve is its own worker
    else:
        [target] = stack.worker_pids
        worker = target

    event = stripe_event()
    body = compact(event)
    client = FastCGIClient(stack.socket)
    client.begin(fastcgi_params("POST", "/webhooks/stripe", body, Signer.stripe(body)))
    half = len(body) // 2
    client.send_stdin(body[:half])
    time.sleep(0.5)  # the worker has accepted the connection and waits for the rest of the body
    os.kill(target, signal.SIGTERM)
    time.sleep(0.5)
    assert pid_alive(worker), "the worker exited with a request in flight"
    client.send_stdin(body[half:])
    client.end_stdin()
    status, headers, answer = client.read_response()
    client.close()

    assert status == 200, (status, answer)
    assert json.loads(answer) == {"status": "accepted", "event_id": event["id"], "outcome": "approved"}
    if mode == "serve":
        code = stack.supervisor.wait(20)
    else:
        code = wait_exit(target, 20)
    assert code == 0, f"exit status {code}: {stack.output()}"
    wait_for(lambda: not pid_alive(worker), 5, "the worker to be gone")
    assert [r["event_id"] for r in stack.log.records()] == [event["id"]]


def _hold_log_lock(stack):
    """Takes the log directory's lock as another writer would (after one request has created it): every append
    waits until the returned file is closed."""
    [(client, _)] = _send_stripe(stack)
    status, _, answer = client.read_response()
    client.close()
    assert status == 200, answer
    lock = open(stack.log_dir / ".verdict" / "lock", "rb+")
    fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def _send_stripe(stack, count=1, signed=True):
    """Sends `count` distinct Stripe events straight to the worker's socket; returns (client, event) pairs."""
    sent = []
    for _ in range(count):
        event = stripe_event()
        body = compact(event)
        headers = Signer.stripe(body) if signed else {"Stripe-Signature": "t=1,v1=" + "0" * 64}
        client = FastCGIClient(stack.socket)
        client.send_whole_request(fastcgi_params("POST", "/webhooks/stripe", body, headers), body)
        sent.append((client, event))
    return sent


def _expect_accepted(sent):
    """Every (client, event) pair is answered 200 for its own event."""
    for client, event in sent:
        client.sock.settimeout(20)
        status, _, answer = client.read_response()
        client.close()
        assert status == 200, answer
        assert json.loads(answer)["event_id"] == event["id"]


def test_requests_waiting_for_the_log_do_not_hold_the_accepting_threads(make_stack):
    """With the log locked by another writer, more valid requests than the worker has threads (4) wait for it;
    a request that needs no log (a bad signature) is still read and answered at once."""
    stack = make_stack("serve", workers=1)
    lock = _hold_log_lock(stack)
    try:
        waiting = _send_stripe(stack, count=6)
        time.sleep(0.5)
        [(bad, _)] = _send_stripe(stack, signed=False)
        bad.sock.settimeout(5)
        status, _, answer = bad.read_response()
        bad.close()
        assert status == 401, answer
        for client, _ in waiting:
            client.sock.settimeout(0.2)
            with pytest.raises(TimeoutError):
                client.sock.recv(1)  # no answer while the line cannot be written
    finally:
        lock.close()
    _expect_accepted(waiting)
    ids = [r["event_id"] for r in stack.log.records()]
    assert sorted(ids[1:]) == sorted(event["id"] for _, event in waiting)


def test_sigterm_answers_every_request_still_waiting_for_the_log_before_exiting(make_stack):
    """Requests queued for the log's writer when SIGTERM arrives are written and answered 200; then exit 0."""
    stack = make_stack("serve", workers=1)
    worker = stack.supervisor.pid  # with one process, serve is its own worker
    lock = _hold_log_lock(stack)
    try:
        waiting = _send_stripe(stack, count=6)
        time.sleep(0.5)
        os.kill(worker, signal.SIGTERM)
        time.sleep(0.5)
        assert pid_alive(worker), "the worker exited with replies still owed"
    finally:
        lock.close()
    _expect_accepted(waiting)
    assert stack.supervisor.wait(20) == 0, stack.output()
    ids = [r["event_id"] for r in stack.log.records()]
    assert sorted(ids[1:]) == sorted(event["id"] for _, event in waiting)


def _writer_waiting_for(lock_path) -> int | None:
    """The process blocked in flock on `lock_path` (from /proc/locks), if any."""
    inode = os.stat(lock_path).st_ino
    for line in open("/proc/locks"):
        fields = line.split()
        if "->" in fields and fields[-3].endswith(f":{inode}"):
            return int(fields[fields.index("->") + 4])
    return None


def test_a_worker_killed_while_holding_the_writers_role_does_not_stall_the_others(make_stack):
    """The workers of one `serve` share one writer at a time. With the log locked by another writer, one worker's
    writer waits for it holding that role; SIGKILL it, and the surviving and replacement workers must take the role
    over: their requests are written and answered 200 once the log is free, and the service goes on."""
    stack = make_stack("serve", workers=2)
    lock_path = stack.log_dir / ".verdict" / "lock"
    lock = _hold_log_lock(stack)
    try:
        early = _send_stripe(stack, count=4)
        wait_for(lambda: _writer_waiting_for(lock_path) is not None, 10, "a writer waiting for the log's lock")
        victim = _writer_waiting_for(lock_path)
        workers = children_of(stack.supervisor.pid)
        assert victim in workers, (victim, workers)
        os.kill(victim, signal.SIGKILL)
        wait_for(
            lambda: victim not in children_of(stack.supervisor.pid) and len(children_of(stack.supervisor.pid)) == 2,
            10,
            "a replacement worker",
        )
        late = _send_stripe(stack, count=4)  # only live workers can take these
        time.sleep(0.5)
    finally:
        lock.close()
    _expect_accepted(late)
    statuses = [_answer_or_none(client) for client, _ in early]
    assert set(statuses) <= {200, None}, statuses
    answered = [event for (_, event), status in zip(early, statuses) if status == 200]
    ids = [r["event_id"] for r in stack.log.records()]
    for event in answered + [event for _, event in late]:
        assert ids.count(event["id"]) == 1, event["id"]
    body = compact(veriff_decision())
    assert stack.request("POST", "/webhooks/veriff", body, Signer.veriff(body), fresh=True).status == 200


def _answer_or_none(client):
    """The status a worker answered, or None when its connection ended unanswered (its worker was killed)."""
    client.sock.settimeout(20)
    try:
        status, _, _ = client.read_response()
        return status
    except ConnectionError:
        return None
    finally:
        client.close()


def test_worker_closes_the_connection_cleanly_after_answering_even_with_unread_input(make_stack):
    """Verdict closes a unix-socket connection as soon as it has answered, without libfcgi's wait for the web
    server to close first. Input the worker never read (here 40 KiB of records after the request, more than
    libfcgi buffers) must be read before closing, or the web server's next read fails with ECONNRESET instead of
    seeing the end of the answer."""
    stack = make_stack("serve", workers=1)
    for trailing in (b"", b"x" * 40_000):
        event = stripe_event()
        body = compact(event)
        client = FastCGIClient(stack.socket)
        client.send_whole_request(fastcgi_params("POST", "/webhooks/stripe", body, Signer.stripe(body)), body, trailing)
        status, _, answer = client.read_response()
        assert status == 200, (status, answer)
        assert json.loads(answer)["event_id"] == event["id"]
        client.sock.settimeout(5)
        assert client.sock.recv(1) == b"", "the worker left the connection open"
        client.close()
    assert len(stack.log.records()) == 2


def test_serve_restarts_a_killed_worker(make_stack):
    stack = make_stack("serve", workers=2)
    before = children_of(stack.supervisor.pid)
    assert len(before) == 2
    os.kill(before[0], signal.SIGKILL)
    wait_for(
        lambda: len(set(children_of(stack.supervisor.pid)) - set(before)) == 1
        and len(children_of(stack.supervisor.pid)) == 2,
        10,
        "a replacement worker",
    )
    assert stack.supervisor.poll() is None
    for _ in range(6):  # the service keeps answering, on fresh connections
        body = compact(veriff_decision())
        response = stack.request("POST", "/webhooks/veriff", body, Signer.veriff(body), fresh=True)
        assert response.status == 200, response
    assert len(stack.log.records()) == 6


def test_log_file_0640_state_dir_0700_and_socket_0660_even_with_umask_0(make_stack, mode):
    stack = make_stack(mode, umask=0)
    body = compact(veriff_decision())
    assert stack.post("veriff", body, Signer.veriff(body)).status == 200
    [log_file] = stack.log.files()

    def mode_of(path) -> int:
        return stat.S_IMODE(os.stat(path).st_mode)

    assert mode_of(log_file) & ~0o640 == 0, f"{log_file.name} is {oct(mode_of(log_file))}, want 0640 or stricter"
    state = stack.log_dir / ".verdict"
    assert state.is_dir(), f"no state directory {state}"
    assert mode_of(state) & ~0o700 == 0, f".verdict is {oct(mode_of(state))}, want 0700"
    assert mode_of(stack.log_dir) & ~0o750 == 0, f"log_dir is {oct(mode_of(stack.log_dir))}, want 0750 or stricter"
    assert mode_of(stack.socket) == 0o660, f"socket is {oct(mode_of(stack.socket))}, want 0660"


# ---------------------------------------------------------------------------------------------------------------
# Stop signals during start-up. libfcgi's initialisation installs a SIGTERM handler that only sets a flag, so a
# SIGTERM that reached a process before it blocked the signal for its `sigwait` was lost, and the process never
# stopped (systemd then waits for TimeoutStopSec and kills it).
# ---------------------------------------------------------------------------------------------------------------

START_UP_DELAYS = [0, 0.001, 0.002, 0.004, 0.007, 0.01, 0.015, 0.02, 0.03, 0.05, 0.08, 0.12]


def _processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains `text` (a path unique to one test's processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes() and pid_alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL for a process started in its own session, and its workers."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _start_serve(config: Path, path: Path, processes: int = 2, options: tuple[str, ...] = ()) -> subprocess.Popen:
    return subprocess.Popen(
        [str(binary()), "serve", "--socket", str(path), "--processes", str(processes), *options, "--config",
         str(config)],
        cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _expect_exit(process: subprocess.Popen, timeout: float, what: str) -> int:
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise AssertionError(f"{what}: still running {timeout}s later") from None


def test_serve_stops_on_a_sigterm_sent_during_start_up(tmp_path):
    """SIGTERM at once and at several points of start-up (config loaded, socket bound, workers forked): the
    supervisor and its workers all exit within a few seconds, cleanly once the signal could be blocked."""
    config = write_config(tmp_path)
    for number, delay in enumerate(START_UP_DELAYS):
        path = tmp_path / f"early{number}.sock"
        process = _start_serve(config, path)
        time.sleep(delay)
        process.send_signal(signal.SIGTERM)
        code = _expect_exit(process, 5, f"verdict serve sent SIGTERM {delay * 1000:g} ms after start")
        stderr = process.stderr.read().decode(errors="replace")
        process.stderr.close()
        # Killed by it (before main could block it) or stopped cleanly; nothing else.
        assert code in (0, -signal.SIGTERM), (delay, code, stderr)
        wait_for(lambda: not _processes_mentioning(str(path)), 5, f"the workers of {path.name} to exit")
        assert not path.exists(), f"{path.name} left behind"


def test_a_worker_on_a_socket_passed_on_standard_input_stops_on_a_sigterm_sent_during_start_up(tmp_path):
    """As systemd's socket activation or spawn-fcgi start it: the listening socket is standard input."""
    config = write_config(tmp_path)
    path = tmp_path / "stdin.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(16)
        for delay in START_UP_DELAYS:
            process = subprocess.Popen(
                [str(binary()), "--config", str(config)], cwd="/", stdin=listener.fileno(),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )
            time.sleep(delay)
            process.send_signal(signal.SIGTERM)
            code = _expect_exit(process, 5, f"the worker sent SIGTERM {delay * 1000:g} ms after start")
            assert code in (0, -signal.SIGTERM), (delay, code)


def test_a_restarted_worker_stops_on_a_sigterm_sent_as_soon_as_it_exists(make_stack):
    """The supervisor forks a replacement for a worker that died; SIGTERM it the moment it appears (before it
    could reach its `sigwait`): it must stop all the same. Each one stopped is replaced again, five times over."""
    stack = make_stack("serve", workers=2)
    supervisor = stack.supervisor.pid
    known = set(children_of(supervisor))
    os.kill(sorted(known)[0], signal.SIGKILL)
    for _ in range(5):
        fresh = wait_for(lambda: set(children_of(supervisor)) - known, 10, "a replacement worker", interval=0.0002)
        worker = min(fresh)
        os.kill(worker, signal.SIGTERM)
        known.add(worker)
        wait_for(lambda: not pid_alive(worker), 5, f"the fresh worker {worker} to stop on SIGTERM")
    wait_for(lambda: len(set(children_of(supervisor)) - known) == 1, 10, "the last replacement worker")
    body = compact(veriff_decision())
    assert stack.request("POST", "/webhooks/veriff", body, Signer.veriff(body), fresh=True).status == 200
    stack.supervisor.send_signal(signal.SIGTERM)
    assert stack.supervisor.wait(10) == 0, stack.output()


def test_serve_stops_on_sigterm_while_its_workers_keep_dying(make_stack):
    """Workers that die as fast as they are restarted (here: killed the moment they appear, three of them) keep the
    supervisor reaping and restarting; a SIGTERM meanwhile must still stop it, promptly and with status 0."""
    stack = make_stack("serve", workers=3)
    supervisor = stack.supervisor.pid
    deadline = time.monotonic() + 12
    stop_sent_at = None
    while stack.supervisor.poll() is None and time.monotonic() < deadline:
        for child in children_of(supervisor):
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if stop_sent_at is None and time.monotonic() > deadline - 10:
            stack.supervisor.send_signal(signal.SIGTERM)
            stop_sent_at = time.monotonic()
        time.sleep(0.001)
    assert stack.supervisor.poll() == 0, "serve did not stop on SIGTERM while its workers kept dying"
    assert time.monotonic() - stop_sent_at < 5, "serve took too long to stop"


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cgi_and_the_command_line_stop_at_once_on_sigterm_and_sigint(tmp_path, stop):
    """Only the FastCGI modes keep the stop signals blocked for their `sigwait`; a CGI process waiting for its body
    and `verdict sign` waiting for standard input stop at once, killed by the signal as any program."""
    config = write_config(tmp_path)
    cgi = {"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "POST", "CONTENT_LENGTH": "100", "PATH_INFO": "/stripe",
           "VERDICT_CONFIG": str(config)}
    for what, command, environment in [
        ("CGI", [str(binary())], {**os.environ, **cgi}),
        ("verdict sign", [str(binary()), "sign", "--config", str(config), "--endpoint", "stripe"], dict(os.environ)),
    ]:
        reading, writing = os.pipe()
        try:
            process = subprocess.Popen(command, stdin=reading, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       env=environment, cwd="/", start_new_session=True)
            time.sleep(0.3)  # waiting for standard input
            process.send_signal(stop)
            assert _expect_exit(process, 5, f"{what} sent {stop.name}") == -stop, what
        finally:
            os.close(reading)
            os.close(writing)


# ---------------------------------------------------------------------------------------------------------------
# Connections the web server asks to keep (FCGI_KEEP_CONN, nginx's `fastcgi_keep_conn on`), and accept failures.
# ---------------------------------------------------------------------------------------------------------------


def _open_descriptors(pid: int) -> set[int]:
    return {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}


def _post_stripe(client: FastCGIClient) -> dict:
    event = stripe_event()
    body = compact(event)
    client.send_whole_request(fastcgi_params("POST", "/webhooks/stripe", body, Signer.stripe(body)), body)
    return event


@pytest.mark.parametrize("fsync", [True, False], ids=["fsync", "no-fsync"])
def test_a_kept_connection_serves_the_next_requests_on_it_and_leaks_nothing(make_stack, fsync):
    """A connection the web server asked to keep stays open after its answer (with fsync, sent by the writer
    thread; without, by the thread that read the request), and the next requests sent on it are read and answered
    (by a thread that watches kept connections); once the web server closes its connections, the worker holds no
    descriptor for them."""
    stack = make_stack("serve", workers=1, fsync=fsync)
    [worker] = children_of(stack.supervisor.pid)
    before = _open_descriptors(worker)
    sent = []
    for _ in range(10):
        client = FastCGIClient(stack.socket, timeout=5, keep_conn=True)
        for _ in range(3):
            sent.append(_post_stripe(client))
            status, _, answer = client.read_response()
            assert status == 200 and json.loads(answer)["event_id"] == sent[-1]["id"], (status, answer)
        client.close()
    wait_for(lambda: len(_open_descriptors(worker) - before) <= 2, 5,
             f"the worker's descriptors to settle (before {sorted(before)})")
    assert sorted(r["event_id"] for r in stack.log.records()) == sorted(e["id"] for e in sent)


@pytest.mark.parametrize("fsync", [True, False], ids=["fsync", "no-fsync"])
def test_idle_kept_connections_do_not_keep_new_connections_waiting(make_stack, fsync):
    """nginx keeps up to its `keepalive` count of connections open between requests. More idle kept connections
    than the worker has threads must not stop it from accepting new ones (a thread that waited on its own kept
    connection did, and the new request hung), and each kept connection still serves its next request."""
    stack = make_stack("serve", workers=1, fsync=fsync)
    idle = []
    for _ in range(6):  # more than the threads of either mode (4 with fsync, 2 without)
        client = FastCGIClient(stack.socket, timeout=5, keep_conn=True)
        _post_stripe(client)
        status, _, answer = client.read_response()
        assert status == 200, answer
        idle.append(client)
    fresh = FastCGIClient(stack.socket, timeout=5)
    event = _post_stripe(fresh)
    status, _, answer = fresh.read_response()
    fresh.close()
    assert status == 200 and json.loads(answer)["event_id"] == event["id"], (status, answer)
    for client in reversed(idle):
        event = _post_stripe(client)
        status, _, answer = client.read_response()
        assert status == 200 and json.loads(answer)["event_id"] == event["id"], (status, answer)
        client.close()


def test_a_worker_with_idle_kept_connections_stops_promptly_and_closes_them(make_stack):
    """SIGTERM with idle kept connections open: nothing is owed on them, so the worker closes them and exits at
    once, instead of waiting for the web server to send or close."""
    stack = make_stack("serve", workers=1)
    idle = []
    for _ in range(3):
        client = FastCGIClient(stack.socket, timeout=5, keep_conn=True)
        _post_stripe(client)
        status, _, answer = client.read_response()
        assert status == 200, answer
        idle.append(client)
    started = time.monotonic()
    stack.supervisor.send_signal(signal.SIGTERM)
    stack.supervisor.wait(10)
    assert time.monotonic() - started < 5, "the worker waited on its idle kept connections"
    for client in idle:
        assert client.sock.recv(1) == b"", "an idle kept connection was left open"
        client.close()


def test_idle_kept_connections_are_closed_at_stop_while_a_reply_is_still_owed(make_stack):
    """They used to stay open until every owed reply was sent (here: until the log's lock is free), while the web
    server went on sending requests on them that were then dropped unanswered (nginx: 502)."""
    stack = make_stack("serve", workers=1, fsync=True)
    idle = FastCGIClient(stack.socket, timeout=5, keep_conn=True)
    _post_stripe(idle)
    assert idle.read_response()[0] == 200
    with open(stack.log.directory / ".verdict" / "lock", "r+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the next append waits: its reply is owed
        owed = FastCGIClient(stack.socket, timeout=15)
        event = _post_stripe(owed)
        time.sleep(0.3)
        stack.supervisor.send_signal(signal.SIGTERM)
        idle.sock.settimeout(3)
        assert idle.sock.recv(1) == b"", "an idle kept connection stayed open while a reply was owed"
        fcntl.flock(lock, fcntl.LOCK_UN)
    status, _, answer = owed.read_response()
    assert status == 200 and json.loads(answer)["event_id"] == event["id"], (status, answer)
    stack.supervisor.wait(10)
    idle.close()
    owed.close()


def test_more_kept_connections_than_128_stay_open(make_stack):
    """Past 128 idle kept connections an answered one was closed, and nginx could be reusing it at that moment
    (steady 502s with nginx's `keepalive` above 128 per worker process). The limit now follows the descriptor
    limit."""
    stack = make_stack("serve", workers=1, fsync=False)
    clients = []
    try:
        for _ in range(150):
            client = FastCGIClient(stack.socket, timeout=5, keep_conn=True)
            _post_stripe(client)
            assert client.read_response()[0] == 200
            clients.append(client)
        for client in clients:  # each still open, and serves its next request
            event = _post_stripe(client)
            status, _, answer = client.read_response()
            assert status == 200 and json.loads(answer)["event_id"] == event["id"], (status, answer)
    finally:
        for client in clients:
            client.close()


@pytest.mark.parametrize("fsync", [True, False], ids=["fsync", "no-fsync"])
def test_a_request_already_sent_on_a_kept_connection_when_the_worker_stops_is_answered(make_stack, fsync):
    """Stopping closes the idle kept connections; a request the web server had already sent on one (here, the
    moment it had the previous answer, so the worker may not even have put the connection aside yet) is served
    first (with fsync, synced and answered) instead of being cut off."""
    stack = make_stack("serve", workers=1, fsync=fsync)
    [worker] = children_of(stack.supervisor.pid)
    client = FastCGIClient(stack.socket, timeout=10, keep_conn=True)
    _post_stripe(client)
    status, _, answer = client.read_response()
    assert status == 200, answer
    # The worker, paused, gets the next request and the stop signal together.
    os.kill(worker, signal.SIGSTOP)
    try:
        event = _post_stripe(client)
        stack.supervisor.send_signal(signal.SIGTERM)
        time.sleep(0.3)
    finally:
        os.kill(worker, signal.SIGCONT)
    status, _, answer = client.read_response()
    assert status == 200 and json.loads(answer)["event_id"] == event["id"], (status, answer)
    assert client.sock.recv(1) == b"", "the kept connection stayed open after the worker stopped"
    client.close()
    stack.supervisor.wait(10)
    assert event["id"] in {r["event_id"] for r in stack.log.records()}


def test_a_health_check_sent_on_a_kept_connection_as_the_writer_answers_at_stop_is_answered(make_stack):
    """With fsync, the log's writer thread sends the replies. A request the web server sends on a kept connection
    the moment it has such a reply, while the worker stops, is served once the worker's threads have left, not by
    the writer: a health check needs the writer, which would wait on itself, and the worker would never exit."""
    stack = make_stack("serve", workers=1, fsync=True)
    warm_up = FastCGIClient(stack.socket, timeout=5)
    _post_stripe(warm_up)
    assert warm_up.read_response()[0] == 200
    warm_up.close()
    # The writer takes this lock before appending: holding it keeps the next reply owed.
    lock = os.open(stack.log_dir / ".verdict" / "lock", os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        client = FastCGIClient(stack.socket, timeout=10, keep_conn=True)
        event = _post_stripe(client)
        time.sleep(0.3)  # read by the worker, now waiting for the writer
        client.send_whole_request(fastcgi_params("GET", "/webhooks/healthz", b"", {}), b"")
        stack.supervisor.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # the worker is stopping
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)
    status, _, answer = client.read_response()
    assert status == 200 and json.loads(answer)["event_id"] == event["id"], (status, answer)
    status, _, answer = client.read_response()
    assert status == 200 and json.loads(answer)["status"] == "ok", (status, answer)
    assert client.sock.recv(1) == b"", "the kept connection stayed open after the worker stopped"
    client.close()
    stack.supervisor.wait(10)


@pytest.mark.parametrize("fsync", [True, False], ids=["fsync", "no-fsync"])
def test_a_connection_accepted_before_the_worker_stops_is_answered_when_its_request_follows(make_stack, fsync):
    """Stopping wakes the threads waiting in `accept`. A connection already accepted, whose request has not arrived
    yet (the web server connects, then writes), is not one of them: its request, sent after the stop signal, is
    read and answered (libfcgi's own accept dropped such a connection unanswered)."""
    stack = make_stack("serve", workers=1, fsync=fsync)
    client = FastCGIClient(stack.socket, timeout=10)
    time.sleep(0.3)  # accepted, waiting for the request's first bytes
    stack.supervisor.send_signal(signal.SIGTERM)
    time.sleep(0.3)  # the worker is stopping
    event = _post_stripe(client)
    status, _, answer = client.read_response()
    assert status == 200 and json.loads(answer)["event_id"] == event["id"], (status, answer)
    client.close()
    stack.supervisor.wait(10)
    assert event["id"] in {r["event_id"] for r in stack.log.records()}


# ---------------------------------------------------------------------------------------------------------------
# A worker on a TCP socket, as `spawn-fcgi -a 127.0.0.1 -p PORT` starts it: the listening socket is standard input.
# ---------------------------------------------------------------------------------------------------------------


def _start_tcp_worker(tmp_path: Path, web_servers: str | None = None,
                      fsync: bool = True) -> tuple[subprocess.Popen, tuple[str, int]]:
    config = write_config(tmp_path, fsync=fsync)
    environment = {k: v for k, v in os.environ.items() if k != "FCGI_WEB_SERVER_ADDRS"}
    if web_servers is not None:
        environment["FCGI_WEB_SERVER_ADDRS"] = web_servers
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        process = subprocess.Popen(
            [str(binary()), "--config", str(config)], cwd="/", stdin=listener.fileno(), env=environment,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )
        return process, listener.getsockname()


def _tcp_post(address: tuple[str, int], source: str | None = None) -> tuple[int, dict]:
    client = FastCGIClient(address, timeout=10, source=source)
    try:
        event = _post_stripe(client)
        status, _, answer = client.read_response()
        assert json.loads(answer)["event_id"] == event["id"], answer
        return status, event
    finally:
        client.close()


def test_a_worker_on_a_tcp_socket_serves_and_logs(tmp_path):
    process, address = _start_tcp_worker(tmp_path)
    try:
        status, event = _tcp_post(address)
        assert status == 200
        process.send_signal(signal.SIGTERM)
        assert _expect_exit(process, 10, "the TCP worker after SIGTERM") == 0
        assert event["id"] in {r["event_id"] for r in DecisionLog(tmp_path / "log").records()}
    finally:
        _kill_group(process)
        process.stderr.close()


def test_a_worker_on_a_tcp_socket_answers_only_the_web_servers_in_fcgi_web_server_addrs(tmp_path):
    """libfcgi's filter, which Verdict keeps now that it accepts connections itself: anyone else's connection is
    closed unanswered, and nothing is logged for it."""
    process, address = _start_tcp_worker(tmp_path, web_servers="127.0.0.2, ::1")
    try:
        status, event = _tcp_post(address, source="127.0.0.2")
        assert status == 200
        client = FastCGIClient(address, timeout=10, source="127.0.0.1")
        try:
            _post_stripe(client)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed before the request was all sent
        with pytest.raises((ConnectionError, OSError)):
            client.read_response()
        client.close()
        assert [r["event_id"] for r in DecisionLog(tmp_path / "log").records()] == [event["id"]]
    finally:
        _kill_group(process)
        process.stderr.close()


def test_a_tcp_peer_that_keeps_its_connection_open_after_the_answer_does_not_hold_up_other_answers(tmp_path):
    """With fsync the log's writer thread sends the answers. Over TCP it used to close the way libfcgi does, waiting
    up to 2 s for the peer to close first, so a peer that read its answer and kept the connection open held up
    every other answer. Now the connection is closed at once (with a FIN: nothing is left unread)."""
    process, address = _start_tcp_worker(tmp_path, fsync=True)
    try:
        for _ in range(3):
            lingering = FastCGIClient(address, timeout=10)
            _post_stripe(lingering)
            assert lingering.read_response()[0] == 200
            lingering.sock.settimeout(1)
            assert lingering.sock.recv(1) == b"", "the worker left the answered connection open"
            started = time.monotonic()
            status, _ = _tcp_post(address)
            assert status == 200
            assert time.monotonic() - started < 1.5, "another client's answer waited for the first to close"
            lingering.close()
    finally:
        _kill_group(process)
        process.stderr.close()


def test_a_tcp_worker_closes_a_silent_connection_and_stops_on_sigterm_with_silent_connections_open(tmp_path):
    """libfcgi read a new TCP connection's first bytes without a time limit: a client that connected and sent
    nothing held a thread for good. Now it is closed after 2 s, and silent connections do not delay a stop."""
    process, address = _start_tcp_worker(tmp_path)
    try:
        silent = socket.create_connection(address, timeout=10)
        started = time.monotonic()
        assert silent.recv(1) == b""  # closed by the worker, unanswered
        assert 1.5 < time.monotonic() - started < 5
        silent.close()
        others = [socket.create_connection(address, timeout=10) for _ in range(3)]
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        assert _expect_exit(process, 8, "the TCP worker sent SIGTERM with silent connections open") == 0
        for other in others:
            other.close()
    finally:
        _kill_group(process)
        process.stderr.close()


def test_a_tcp_worker_refuses_to_start_with_an_fcgi_web_server_addrs_it_cannot_read(tmp_path):
    process, _ = _start_tcp_worker(tmp_path, web_servers="127.0.0.1,localhost")
    try:
        assert _expect_exit(process, 10, "the worker with a bad FCGI_WEB_SERVER_ADDRS") == 1
        stderr = process.stderr.read().decode(errors="replace")
        assert 'FCGI_WEB_SERVER_ADDRS: "localhost" is not an IP address' in stderr, stderr
    finally:
        _kill_group(process)
        process.stderr.close()


@pytest.mark.parametrize("fsync", [True, False], ids=["fsync", "no-fsync"])
def test_a_tcp_connection_accepted_before_the_worker_stops_is_answered_when_its_request_follows(tmp_path, fsync):
    """As over a unix socket: the stop wakes only the threads in `accept`, not one reading a connection it took."""
    process, address = _start_tcp_worker(tmp_path, fsync=fsync)
    try:
        client = FastCGIClient(address, timeout=10)
        time.sleep(0.3)  # accepted, waiting for the request's first bytes
        process.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # the worker is stopping
        event = _post_stripe(client)
        status, _, answer = client.read_response()
        assert status == 200 and json.loads(answer)["event_id"] == event["id"], (status, answer)
        client.close()
        assert _expect_exit(process, 10, "the TCP worker after SIGTERM") == 0
        assert event["id"] in {r["event_id"] for r in DecisionLog(tmp_path / "log").records()}
    finally:
        _kill_group(process)
        process.stderr.close()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_accepting_without_a_free_descriptor_waits_instead_of_spinning(make_stack):
    """With no descriptor left (EMFILE), accept fails at once, again and again; the accepting threads must pause
    between attempts rather than burn the CPU, and accept again once descriptors are free."""
    stack = make_stack("serve", workers=1)
    [worker] = children_of(stack.supervisor.pid)
    limits = resource.prlimit(worker, resource.RLIMIT_NOFILE)
    lowest_free = min(set(range(len(_open_descriptors(worker)) + 1)) - _open_descriptors(worker))
    resource.prlimit(worker, resource.RLIMIT_NOFILE, (lowest_free, limits[1]))
    try:
        # A thread waiting in accept holds a descriptor reserved before the limit. Connections closed at once (the
        # worker drops them) use those up, and every accept after them fails.
        for _ in range(8):
            FastCGIClient(stack.socket).close()
        time.sleep(0.3)
        start = _cpu_seconds(worker)
        time.sleep(1)
        used = _cpu_seconds(worker) - start
    finally:
        resource.prlimit(worker, resource.RLIMIT_NOFILE, limits)
    assert used < 0.25, f"the worker used {used:.2f} s of CPU in 1 s while it could not accept"
    client = FastCGIClient(stack.socket, timeout=10)
    event = _post_stripe(client)
    status, _, answer = client.read_response()
    client.close()
    assert status == 200 and json.loads(answer)["event_id"] == event["id"], (status, answer)


# ---------------------------------------------------------------------------------------------------------------
# The socket path of `verdict serve`: only a stale socket is replaced, and only its own is removed at exit.
# ---------------------------------------------------------------------------------------------------------------


def _healthz(path: Path) -> int | None:
    """The status of a health check sent straight to the socket at `path`; None while nobody accepts there."""
    try:
        client = FastCGIClient(path, timeout=10)
    except (ConnectionRefusedError, FileNotFoundError):
        return None
    client.send_whole_request(fastcgi_params("GET", "/webhooks/healthz", b"", {}), b"")
    status, _, _ = client.read_response()
    client.close()
    return status


def _serve_refused(config: Path, path: Path) -> str:
    """Runs `verdict serve` on `path`, which it must refuse: exit 1 at once. Returns its standard error."""
    process = _start_serve(config, path, processes=1)
    code = _expect_exit(process, 10, f"verdict serve on {path}")
    stderr = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    assert code == 1, (code, stderr)
    return stderr


def test_a_command_line_error_found_while_running_points_at_that_commands_help(tmp_path):
    config = write_config(tmp_path)
    body = tmp_path / "body.json"
    body.write_text("{}")
    for arguments, message, command in [
        (["sign", "--config", str(config), "--endpoint", "nope", str(body)], 'no endpoint named "nope"', "sign"),
        (["serve", "--config", str(config), "--socket", str(tmp_path / "s.sock"), "--processes", "99"],
         "--processes must be between 1 and 64", "serve"),
    ]:
        run = subprocess.run([str(binary()), *arguments], capture_output=True, text=True, timeout=30)
        assert run.returncode == 64, (run.returncode, run.stderr)
        assert message in run.stderr and f"(see 'verdict {command} --help')" in run.stderr, run.stderr
        assert "Usage: verdict <subcommand>" not in run.stderr, run.stderr


def test_a_secret_file_starting_with_a_byte_order_mark_holds_the_secret_alone(tmp_path):
    """Windows editors start a UTF-8 file with a byte order mark. It used to become part of the secret: every real
    delivery got 401, while `verdict sign`, signing with the same wrong key, agreed with Verdict."""
    secret = tmp_path / "veriff.secret"
    secret.write_bytes(b"\xef\xbb\xbfabc\r\n")
    secret.chmod(0o600)
    config = tmp_path / "verdict.toml"
    config.write_text('\ufefflog_dir = "log"\n[[endpoint]]\nname = "veriff"\nprovider = "veriff"\n'
                      'secret_files = ["veriff.secret"]\n')
    config.chmod(0o600)
    body = tmp_path / "body.json"
    body.write_bytes(b'{"status":"success"}')
    signed = subprocess.run([str(binary()), "sign", "--config", str(config), "--endpoint", "veriff", str(body)],
                            capture_output=True, text=True, timeout=30)
    assert signed.returncode == 0, signed.stderr
    expected = hmac.new(b"abc", body.read_bytes(), hashlib.sha256).hexdigest()
    assert signed.stdout == f"X-HMAC-SIGNATURE: {expected}\n", signed.stdout


def test_a_configuration_without_secrets_may_be_read_by_others_but_not_written(tmp_path):
    """Whoever can edit the configuration can point log_dir (identity data) or secret_files anywhere."""
    secret = tmp_path / "veriff.secret"
    secret.write_text("abc\n")
    secret.chmod(0o600)
    config = tmp_path / "verdict.toml"
    config.write_text('log_dir = "log"\n[[endpoint]]\nname = "veriff"\nprovider = "veriff"\n'
                      'secret_files = ["veriff.secret"]\n')
    for mode, code in [(0o644, 0), (0o664, 78), (0o646, 78)]:
        config.chmod(mode)
        run = subprocess.run([str(binary()), "check-config", "--config", str(config)], capture_output=True,
                             text=True, timeout=30)
        assert run.returncode == code, (oct(mode), run.stdout, run.stderr)
        if code:
            assert "writable by other users" in run.stderr and f"chmod go-w {config}" in run.stderr, run.stderr


def test_sign_refuses_a_timestamp_out_of_range_instead_of_crashing(tmp_path):
    config = write_config(tmp_path)
    body = tmp_path / "body.json"
    body.write_text("{}")
    for value in ["9223372036854775807", "-5"]:
        run = subprocess.run([str(binary()), "sign", "--config", str(config), "--endpoint", "stripe",
                              f"--timestamp={value}", str(body)], capture_output=True, text=True, timeout=30)
        assert run.returncode == 64 and "--timestamp must be a Unix time" in run.stderr, (run.returncode, run.stderr)


def test_serve_gives_its_socket_to_the_socket_group_and_its_log_files_to_its_own_group(tmp_path):
    """The web server's group may connect; the decision log keeps serve's own group, closed to the web server."""
    import grp

    try:
        web_group = grp.getgrnam("nogroup")
    except KeyError:
        pytest.skip("no group nogroup")
    own_group = os.getegid()
    if web_group.gr_gid == own_group:
        pytest.skip("the test runs as nogroup")
    config = write_config(tmp_path)
    path = tmp_path / "verdict.sock"
    process = _start_serve(config, path, processes=1, options=("--socket-group", "nogroup"))
    try:
        assert wait_for(lambda: _healthz(path), 10, "healthz on the socket") == 200
        status = os.stat(path)
        assert (status.st_gid, stat.S_IMODE(status.st_mode)) == (web_group.gr_gid, 0o660)
        log_dir = tmp_path / "log"
        assert all(os.stat(p).st_gid == own_group for p in [log_dir, *log_dir.iterdir()])
    finally:
        _stop_serve(process)

    run = subprocess.run([str(binary()), "serve", "--socket", str(path), "--socket-group", "no-such-group",
                          "--config", str(config)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 64 and "--socket-group: no group no-such-group" in run.stderr, run.stderr
    assert not path.exists()


def test_serve_refuses_a_socket_path_holding_something_else(tmp_path):
    config = write_config(tmp_path)
    regular = tmp_path / "not-a-socket"
    regular.write_text("precious\n")
    stderr = _serve_refused(config, regular)
    assert f"{regular} exists and is not a socket" in stderr, stderr
    assert regular.read_text() == "precious\n"
    directory = tmp_path / "a-directory"
    directory.mkdir()
    assert "is not a socket" in _serve_refused(config, directory)
    assert directory.is_dir()


def test_serve_reports_a_socket_path_it_cannot_bind_in_its_own_words(tmp_path):
    """libfcgi's own bind prints "bind/listen" and exits with errno as the status; Verdict names the path."""
    config = write_config(tmp_path)
    missing = tmp_path / "no-such-directory" / "verdict.sock"
    stderr = _serve_refused(config, missing)
    assert f"cannot listen on {missing}: No such file or directory" in stderr, stderr
    assert "bind/listen" not in stderr, stderr


def test_serve_binds_a_socket_path_with_a_colon_and_digits_as_a_path(tmp_path):
    """libfcgi reads "host:port" in a bind path as TCP; a file name such as "verdict:9000" is a file name."""
    config = write_config(tmp_path)
    path = tmp_path / "verdict:9000"
    process = _start_serve(config, path, processes=1)
    try:
        assert wait_for(lambda: _healthz(path), 10, "healthz on the socket") == 200
        assert path.is_socket()
    finally:
        _stop_serve(process)


def _stop_serve(process: subprocess.Popen) -> None:
    """SIGTERM, which must end `serve` with 0 within 10 s; killed (and the test failed) otherwise."""
    try:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        assert _expect_exit(process, 10, "verdict serve after SIGTERM") == 0
    finally:
        if process.poll() is None:
            _kill_group(process)
        process.stderr.close()


def test_serve_refuses_a_socket_another_server_listens_on(make_stack, tmp_path):
    stack = make_stack("serve", workers=1)
    inode = os.stat(stack.socket).st_ino
    other = tmp_path / "other"
    other.mkdir()
    stderr = _serve_refused(write_config(other), stack.socket)
    assert f"another process is listening on {stack.socket}" in stderr, stderr
    assert stack.socket.is_socket() and os.stat(stack.socket).st_ino == inode
    body = compact(veriff_decision())
    assert stack.request("POST", "/webhooks/veriff", body, Signer.veriff(body), fresh=True).status == 200


def test_serve_replaces_a_stale_socket_and_removes_it_at_exit(tmp_path):
    config = write_config(tmp_path)
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(str(path))  # closed without unlinking: a file nobody answers on
    process = _start_serve(config, path, processes=1)
    try:
        assert wait_for(lambda: _healthz(path), 10, "healthz on the replaced socket") == 200
        process.send_signal(signal.SIGTERM)
        assert _expect_exit(process, 10, "verdict serve after SIGTERM") == 0
    finally:
        if process.poll() is None:
            _kill_group(process)
    assert not path.exists()


def test_two_serves_started_at_once_on_a_stale_socket_leave_exactly_one_serving_there(tmp_path):
    """Both find the stale socket. The check, the removal and the bind must be one step between them: otherwise
    the second removes the first's fresh socket and binds its own, and two servers run, one unreachable."""
    for attempt in range(8):
        directory = tmp_path / f"attempt{attempt}"
        directory.mkdir()
        config = write_config(directory)
        path = directory / "raced.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
            stale.bind(str(path))  # closed without unlinking: a file nobody answers on
        both = [_start_serve(config, path, processes=1) for _ in range(2)]
        try:
            refused = wait_for(lambda: [p for p in both if p.poll() is not None], 10, "one serve to refuse")
            time.sleep(0.2)
            assert len(refused) == 1 and refused[0].returncode == 1, [p.poll() for p in both]
            stderr = refused[0].stderr.read().decode(errors="replace")
            assert f"another process is listening on {path}" in stderr, stderr
            assert wait_for(lambda: _healthz(path), 10, "healthz on the socket") == 200
        finally:
            for process in both:
                if process.poll() is None:
                    _kill_group(process)
                process.stderr.close()


def test_serve_leaves_a_socket_that_replaced_its_own_at_exit(tmp_path):
    """Another server took the path over while this one ran (after removing this one's file): the socket at the
    path at exit is the other's, and stays."""
    config = write_config(tmp_path)
    path = tmp_path / "taken.sock"
    process = _start_serve(config, path, processes=1)
    try:
        wait_for(lambda: path.is_socket(), 10, "the socket")
        os.unlink(path)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as newcomer:
            newcomer.bind(str(path))
            newcomer.listen(1)
            inode = os.stat(path).st_ino
            process.send_signal(signal.SIGTERM)
            assert _expect_exit(process, 10, "verdict serve after SIGTERM") == 0
            assert path.is_socket() and os.stat(path).st_ino == inode, "serve removed another server's socket"
    finally:
        if process.poll() is None:
            _kill_group(process)


def test_serve_stops_cleanly_on_sighup_and_its_workers_do_not_outlive_a_killed_supervisor(tmp_path):
    """A closed terminal sends SIGHUP: it used to kill the supervisor and leave both workers serving, and the socket
    in place. Now it stops `serve` as SIGTERM does. A supervisor killed outright (SIGKILL, the OOM killer) takes its
    workers with it: the kernel sends them SIGTERM."""
    config = write_config(tmp_path)
    path = tmp_path / "hup.sock"
    process = _start_serve(config, path, processes=2)
    try:
        wait_for(lambda: len(_processes_mentioning(str(path))) == 3, 10, "the supervisor and two workers")
        process.send_signal(signal.SIGHUP)
        assert _expect_exit(process, 10, "verdict serve after SIGHUP") == 0
        wait_for(lambda: not _processes_mentioning(str(path)), 5, "its workers to exit")
        assert not path.exists()
    finally:
        _kill_group(process)

    process = _start_serve(config, path, processes=2)
    try:
        wait_for(lambda: len(_processes_mentioning(str(path))) == 3, 10, "the supervisor and two workers")
        process.send_signal(signal.SIGKILL)
        process.wait()
        wait_for(lambda: not _processes_mentioning(str(path)), 10, "the workers of a killed supervisor to exit")
    finally:
        _kill_group(process)


def test_a_connection_that_stalls_mid_request_is_closed_and_does_not_hold_a_stop(tmp_path):
    """After a connection's first bytes libfcgi read with no time limit: a peer that sent one byte and stopped
    held a thread for good, and SIGTERM never ended the worker. Now a read that waits 10 s fails."""
    config = write_config(tmp_path)
    path = tmp_path / "stall.sock"
    process = _start_serve(config, path, processes=1)
    try:
        wait_for(path.exists, 10, "the socket")
        stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stalled.connect(str(path))
        stalled.sendall(b"\x01")  # the start of a record header
        stalled.settimeout(20)
        started = time.monotonic()
        assert stalled.recv(1) == b""  # closed by the worker, unanswered
        assert 5 < time.monotonic() - started < 15
        again = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        again.connect(str(path))
        again.sendall(b"\x01")
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        assert _expect_exit(process, 15, "verdict serve sent SIGTERM with a stalled connection open") == 0
        stalled.close()
        again.close()
    finally:
        _kill_group(process)


def test_serve_stops_on_sigterm_while_a_connection_is_open_and_silent(tmp_path):
    """A client (or a stalled web server) that connects and sends nothing must not keep a worker from stopping:
    libfcgi waits up to 2 s for a new connection's first bytes, and told of a shutdown meanwhile it spun on a
    closed descriptor instead of returning."""
    config = write_config(tmp_path)
    path = tmp_path / "silent.sock"
    process = _start_serve(config, path, processes=1)
    try:
        wait_for(path.exists, 10, "the socket")
        silent = []
        for _ in range(3):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.connect(str(path))
            silent.append(client)
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        code = _expect_exit(process, 8, "verdict serve sent SIGTERM with silent connections open")
        assert code == 0, process.stderr.read().decode(errors="replace")
        wait_for(lambda: not _processes_mentioning(str(path)), 5, "its worker to exit")
    finally:
        for client in silent:
            client.close()
        _kill_group(process)

"""Process life cycle and file permissions: graceful SIGTERM with a request in flight, worker restarts, modes."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import stat
import time

import pytest

from support import (
    SUBREAPER,
    FastCGIClient,
    Signer,
    children_of,
    compact,
    fastcgi_params,
    pid_alive,
    stripe_event,
    veriff_decision,
    wait_exit,
    wait_for,
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

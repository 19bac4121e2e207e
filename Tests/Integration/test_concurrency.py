"""Several worker processes, many parallel HTTPS connections: one whole, valid line per event, never more. With
fsync on, a writer thread per process appends batches; with it off, each request's thread appends its own line."""

from __future__ import annotations

import os
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from support import Signer, children_of, compact, https_request, stripe_event, veriff_decision

EVENTS = 400
CONNECTIONS = 16
WORKERS = 3


def post_in_parallel(stack, requests: list[tuple[str, bytes, dict]]) -> list[tuple[int, int, object]]:
    """Posts (endpoint, body, headers) from CONNECTIONS threads, each with its own keep-alive HTTPS connection, all
    starting at once; returns (index, status, JSON answer when 200 else the body) for each."""
    start = threading.Barrier(CONNECTIONS)

    def send_share(share: int):
        conn = stack.connection()
        answers = []
        try:
            start.wait(10)
            for index in range(share, len(requests), CONNECTIONS):
                endpoint, body, headers = requests[index]
                response = https_request(conn, "POST", f"/webhooks/{endpoint}", body, headers)
                answers.append((index, response.status, response.json() if response.status == 200 else response.body))
        finally:
            conn.close()
        return answers

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        return [answer for share in pool.map(send_share, range(CONNECTIONS)) for answer in share]


@pytest.mark.parametrize("fsync", [True, False], ids=["fsync", "no-fsync"])
def test_parallel_distinct_events_from_many_connections_give_one_whole_valid_line_each(make_stack, mode, fsync):
    stack = make_stack(mode, workers=WORKERS, fsync=fsync)
    events = []  # (endpoint, payload, body, headers)
    for n in range(EVENTS):
        if n % 2:
            payload = stripe_event(["verified", "processing", "canceled"][n % 3])
            body = compact(payload)
            events.append(("stripe", payload, body, Signer.stripe(body)))
        else:
            payload = veriff_decision(vendorData=f"parallel-{n}")
            body = compact(payload)
            events.append(("veriff", payload, body, Signer.veriff(body)))

    results = post_in_parallel(stack, [(endpoint, body, headers) for endpoint, _, body, headers in events])
    assert len(results) == EVENTS
    failures = [r for r in results if r[1] != 200 or r[2].get("status") != "accepted"]
    assert not failures, f"{len(failures)} not accepted, e.g. {failures[:3]}"
    answered = {index: answer["event_id"] for index, _, answer in results}
    assert len(set(answered.values())) == EVENTS, "event ids are not distinct"

    records = stack.log.records()  # every line parsed whole and schema-checked
    assert len(records) == EVENTS, f"{len(records)} lines for {EVENTS} events"
    written = Counter(r["event_id"] for r in records)
    assert max(written.values()) == 1
    assert set(written) == set(answered.values())
    # Each line is the event it claims to be.
    by_id = {r["event_id"]: r for r in records}
    for index, event_id in answered.items():
        endpoint, payload, _, _ = events[index]
        record = by_id[event_id]
        assert record["endpoint"] == endpoint
        if endpoint == "veriff":
            assert record["payload"] == payload
        else:
            assert record["event_id"] == payload["id"] and record["payload"]["type"] == payload["type"]


@pytest.mark.parametrize("fsync", [True, False], ids=["fsync", "no-fsync"])
def test_concurrent_redeliveries_of_one_event_write_one_line(make_stack, mode, fsync):
    stack = make_stack(mode, workers=WORKERS, fsync=fsync)
    body = compact(veriff_decision())
    headers = Signer.veriff(body)
    copies = CONNECTIONS * 2
    start = threading.Barrier(copies)

    def send(_):
        conn = stack.connection()
        try:
            conn.connect()
            start.wait(10)
            response = https_request(conn, "POST", "/webhooks/veriff", body, headers)
            return response.status, response.json()
        finally:
            conn.close()

    with ThreadPoolExecutor(copies) as pool:
        results = list(pool.map(send, range(copies)))
    assert all(status == 200 for status, _ in results), results
    statuses = Counter(answer["status"] for _, answer in results)
    assert statuses == {"accepted": 1, "duplicate": copies - 1}, statuses
    assert len({answer["event_id"] for _, answer in results}) == 1
    assert len(stack.log.records()) == 1


@pytest.mark.parametrize("fsync", [True, False], ids=["fsync", "no-fsync"])
def test_nginx_keeping_connections_to_verdict_gets_every_event_answered_and_logged(make_stack, fsync):
    """nginx with `fastcgi_keep_conn on` and an upstream `keepalive 16` pool, more connections than Verdict has
    threads: every request is answered 200 and logged once, and nginx logs no upstream error (a worker thread
    waiting on its own idle kept connection left new ones unaccepted; a kept connection closed after its answer
    could be reused by nginx as it closed)."""
    stack = make_stack("serve", workers=2, fsync=fsync, keep_conn=True)
    count = 240
    bodies = [compact(stripe_event()) for _ in range(count)]
    results = post_in_parallel(stack, [("stripe", body, Signer.stripe(body)) for body in bodies])
    failures = [r for r in results if r[1] != 200]
    assert not failures, f"{len(failures)} of {count} not answered 200, e.g. {failures[:3]}"
    assert len(stack.log.records()) == count
    # The connections were kept: nginx's pool holds idle ones, so Verdict's workers have them open beside the
    # listening socket (and the supervisor's copy of it).
    def sockets(pid: int) -> int:
        return sum(os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:") for fd in os.listdir(f"/proc/{pid}/fd"))
    workers = children_of(stack.supervisor.pid)
    assert sum(sockets(pid) - 1 for pid in workers) > 0, "no connection kept open between requests"

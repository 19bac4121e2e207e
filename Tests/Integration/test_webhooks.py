"""Signed webhooks over HTTPS, through nginx, to Verdict FastCGI workers (both start modes): what is accepted
and written, what is refused with which status and error code, and that a refused request writes nothing."""

from __future__ import annotations

import copy
import datetime as dt
import re
import time
import uuid

import pytest

from support import (
    STRIPE_SECRETS,
    STRIPE_TOLERANCE,
    VERIFF_SECRETS,
    Signer,
    Stack,
    compact,
    iso_ms,
    stripe_event,
    veriff_decision,
)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def ms_of(timestamp: str) -> int:
    parsed = dt.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    return round(parsed.timestamp() * 1000)


def assert_refused(response, status: int, code: str) -> dict:
    assert response.status == status, response
    answer = response.json()
    assert set(answer) == {"error", "message"}, answer
    assert answer["error"] == code, answer
    assert isinstance(answer["message"], str) and answer["message"], answer
    return answer


def assert_accepted(response, outcome: str, status: str = "accepted") -> str:
    assert response.status == 200, response
    answer = response.json()
    assert answer == {"status": status, "event_id": answer.get("event_id"), "outcome": outcome}, answer
    assert isinstance(answer["event_id"], str) and answer["event_id"]
    return answer["event_id"]


def redacted(event: dict) -> dict:
    event = copy.deepcopy(event)
    for key in ("client_secret", "url"):
        if isinstance(event["data"]["object"].get(key), str):
            event["data"]["object"][key] = "[redacted]"
    return event


# ---------------------------------------------------------------------------------------------------------------
# Accepted: 200, exactly one schema-valid line with the right fields
# ---------------------------------------------------------------------------------------------------------------

VERIFF_CASES = [
    # status, code, reason, reasonCode, outcome, final, needs_review, anomaly expected
    ("approved", 9001, None, None, "approved", True, False, False),
    ("declined", 9102, "Suspected document tampering", 102, "declined", True, False, False),
    ("resubmission_requested", 9103, "Poor image quality", 204, "resubmission_requested", False, False, False),
    ("review", 9121, None, None, "review", False, True, False),
    ("approved", 9102, None, None, "review", False, True, True),  # code contradicts status
]


@pytest.mark.parametrize(
    "status, code, reason, reason_code, outcome, final, needs_review, anomaly",
    VERIFF_CASES,
    ids=[f"{c[0]}-{c[1]}" for c in VERIFF_CASES],
)
def test_veriff_decision_with_valid_signature_is_accepted_and_logged_once(
    stack: Stack, status, code, reason, reason_code, outcome, final, needs_review, anomaly
):
    payload = veriff_decision(status, code, reason=reason, reasonCode=reason_code)
    body = compact(payload)
    before = now_ms()
    response = stack.post("veriff", body, Signer.veriff(body))
    after = now_ms()

    event_id = assert_accepted(response, outcome)
    assert re.fullmatch(r"veriff-[0-9a-f]{32}", event_id), event_id
    [record] = stack.log.records()
    v = payload["verification"]
    expected = {
        "schema_version": 1,
        "endpoint": "veriff",
        "provider": "veriff",
        "kind": "decision",
        "event_id": event_id,
        "event_type": None,
        "session_id": v["id"],
        "attempt_id": v["attemptId"],
        "reference": v["vendorData"],
        "end_user_id": v["endUserId"],
        "metadata": None,
        "outcome": outcome,
        "final": final,
        "needs_review": needs_review,
        "provider_status": status,
        "provider_code": code,
        "provider_reason": reason,
        "provider_reason_code": reason_code,
        "decision_time": v["decisionTime"],
        "livemode": None,
        "payload": payload,
    }
    assert {k: record[k] for k in expected} == expected
    assert (record["anomaly"] is not None) == anomaly, record["anomaly"]
    assert before <= ms_of(record["received_at"]) <= after
    # The payload is written compact (and in the sender's member order).
    [line] = stack.log.raw_lines()
    assert b'"payload":' + body + b"}\n" == line[-len(body) - 12 :]
    assert stack.log.files()[0].name == f"decisions-{record['received_at'][:10]}.jsonl"


def test_veriff_event_webhook_is_logged_as_an_in_progress_event(stack: Stack):
    payload = {
        "id": str(uuid.uuid4()),
        "attemptId": str(uuid.uuid4()),
        "feature": "selfid",
        "code": 7002,
        "action": "submitted",
        "vendorData": "customer-7",
        "endUserId": None,
    }
    body = compact(payload)
    event_id = assert_accepted(stack.post("veriff", body, Signer.veriff(body)), "in_progress")
    [record] = stack.log.records()
    expected = {
        "kind": "event",
        "event_id": event_id,
        "event_type": "submitted",
        "session_id": payload["id"],
        "attempt_id": payload["attemptId"],
        "reference": "customer-7",
        "outcome": "in_progress",
        "final": False,
        "needs_review": False,
        "provider_status": "submitted",
        "provider_code": 7002,
        "payload": payload,
    }
    assert {k: record[k] for k in expected} == expected


STRIPE_CASES = [
    # status, event type suffix, last_error, outcome, final, needs_review
    ("verified", None, None, "approved", True, False),
    ("requires_input", None, {"code": "document_expired", "reason": "The document has expired."},
     "resubmission_requested", False, False),
    # A failed check, not a user who stopped: a person should look.
    ("requires_input", None, {"code": "selfie_manipulated", "reason": "The selfie was manipulated."},
     "resubmission_requested", False, True),
    ("processing", None, None, "in_progress", False, False),
    ("canceled", None, None, "canceled", True, False),
]


@pytest.mark.parametrize(
    "status, suffix, last_error, outcome, final, needs_review",
    STRIPE_CASES,
    ids=[c[0] + (f"-{c[2]['code']}" if c[2] else "") for c in STRIPE_CASES],
)
def test_stripe_identity_event_with_valid_signature_is_accepted_and_logged_once(
    stack: Stack, status, suffix, last_error, outcome, final, needs_review
):
    event = stripe_event(status, suffix, last_error)
    body = compact(event)
    before = now_ms()
    response = stack.post("stripe", body, Signer.stripe(body))
    after = now_ms()

    assert assert_accepted(response, outcome) == event["id"]
    [record] = stack.log.records()
    session = event["data"]["object"]
    expected = {
        "schema_version": 1,
        "endpoint": "stripe",
        "provider": "stripe",
        "kind": "event" if outcome == "in_progress" else "decision",
        "event_id": event["id"],
        "event_type": event["type"],
        "session_id": session["id"],
        "attempt_id": None,
        "reference": session["client_reference_id"],
        "end_user_id": None,
        "metadata": session["metadata"],
        "outcome": outcome,
        "final": final,
        "needs_review": needs_review,
        "anomaly": None,
        "provider_status": status,
        "provider_code": None,
        "provider_reason": (last_error or {}).get("reason"),
        "provider_reason_code": (last_error or {}).get("code"),
        "decision_time": iso_ms(event["created"]),
        "livemode": False,
        "payload": redacted(event),
    }
    assert {k: record[k] for k in expected} == expected
    assert before <= ms_of(record["received_at"]) <= after
    # The session's credentials never reach the log.
    [line] = stack.log.raw_lines()
    assert session["client_secret"].encode() not in line and session["url"].encode() not in line


def test_stripe_non_identity_event_is_logged_as_other_with_credentials_redacted(stack: Stack):
    event = stripe_event("complete", event_type="checkout.session.completed")
    event["data"]["object"]["object"] = "checkout.session"
    body = compact(event)
    response = stack.post("stripe", body, Signer.stripe(body))

    assert assert_accepted(response, "other") == event["id"]
    [record] = stack.log.records()
    assert (record["outcome"], record["final"], record["event_type"]) == ("other", False, event["type"])
    [line] = stack.log.raw_lines()
    secret, url = event["data"]["object"]["client_secret"], event["data"]["object"]["url"]
    assert secret.encode() not in line, "data.object.client_secret written to the log"
    assert url.encode() not in line, "data.object.url written to the log"


def test_every_configured_secret_is_accepted_for_rotation(stack: Stack):
    accepted = []
    for secret in VERIFF_SECRETS:  # both lines of the secret file
        body = compact(veriff_decision())
        accepted.append(assert_accepted(stack.post("veriff", body, Signer.veriff(body, secret=secret)), "approved"))
    for secret in STRIPE_SECRETS:  # both inline secrets
        body = compact(stripe_event())
        accepted.append(assert_accepted(stack.post("stripe", body, Signer.stripe(body, secret=secret)), "approved"))
    # During a Stripe rotation the header carries several v1 values; one matching is enough.
    body = compact(stripe_event())
    t = int(time.time())
    good = Signer.stripe(body, t)["Stripe-Signature"].split(",v1=")[1]
    header = f"t={t},v1={'0' * 64},v1={good},v0={'1' * 64}"
    accepted.append(assert_accepted(stack.post("stripe", body, {"Stripe-Signature": header}), "approved"))

    assert sorted(r["event_id"] for r in stack.log.records()) == sorted(accepted)
    assert len(set(accepted)) == 5


# ---------------------------------------------------------------------------------------------------------------
# Redelivery
# ---------------------------------------------------------------------------------------------------------------


def test_veriff_redelivery_is_200_duplicate_and_writes_no_new_line(stack: Stack):
    body = compact(veriff_decision("declined", 9102, reason="Suspected document tampering", reasonCode=102))
    headers = Signer.veriff(body)
    first = assert_accepted(stack.post("veriff", body, headers), "declined")
    for _ in range(2):
        again = assert_accepted(stack.post("veriff", body, headers), "declined", status="duplicate")
        assert again == first
    # A redelivery signed with the other (rotated) secret is the same event.
    again = assert_accepted(
        stack.post("veriff", body, Signer.veriff(body, secret=VERIFF_SECRETS[0])), "declined", status="duplicate"
    )
    assert again == first
    assert [r["event_id"] for r in stack.log.records()] == [first]


def test_stripe_redelivery_with_fresh_timestamp_and_signature_is_duplicate_and_writes_no_new_line(stack: Stack):
    event = stripe_event()
    body = compact(event)
    now = int(time.time())
    first_headers = Signer.stripe(body, now - 30)
    assert assert_accepted(stack.post("stripe", body, first_headers), "approved") == event["id"]
    retry_headers = Signer.stripe(body, now)
    assert retry_headers != first_headers
    assert assert_accepted(stack.post("stripe", body, retry_headers), "approved", status="duplicate") == event["id"]
    assert [r["event_id"] for r in stack.log.records()] == [event["id"]]


# ---------------------------------------------------------------------------------------------------------------
# Refused: status, error code, and nothing written
# ---------------------------------------------------------------------------------------------------------------


def test_veriff_bad_signature_is_401_signature_mismatch(stack: Stack):
    body = compact(veriff_decision())
    assert_refused(stack.post("veriff", body, Signer.veriff(body, secret="not-the-secret")), 401, "signature_mismatch")
    tampered = body.replace(b'"approved"', b'"declined"')
    assert tampered != body
    assert_refused(stack.post("veriff", tampered, Signer.veriff(body)), 401, "signature_mismatch")
    assert stack.log.records() == []


def test_stripe_bad_signature_is_401_signature_mismatch(stack: Stack):
    body = compact(stripe_event())
    assert_refused(stack.post("stripe", body, Signer.stripe(body, secret="whsec_wrong")), 401, "signature_mismatch")
    tampered = body.replace(b'"verified"', b'"canceled"')
    assert tampered != body
    assert_refused(stack.post("stripe", tampered, Signer.stripe(body)), 401, "signature_mismatch")
    assert stack.log.records() == []


@pytest.mark.parametrize("endpoint", ["veriff", "stripe"])
def test_missing_signature_is_401_missing_signature(stack: Stack, endpoint):
    body = compact(veriff_decision() if endpoint == "veriff" else stripe_event())
    headers = Signer.veriff(body) if endpoint == "veriff" else Signer.stripe(body)
    headers.pop("X-HMAC-SIGNATURE", None)
    headers.pop("Stripe-Signature", None)
    assert_refused(stack.post(endpoint, body, headers), 401, "missing_signature")
    assert stack.log.records() == []


def test_veriff_wrong_auth_client_is_401_auth_client_mismatch(stack: Stack):
    body = compact(veriff_decision())
    assert_refused(stack.post("veriff", body, Signer.veriff(body, auth_client="someone-else")), 401,
                   "auth_client_mismatch")
    assert_refused(stack.post("veriff", body, Signer.veriff(body, auth_client=None)), 401, "auth_client_mismatch")
    assert stack.log.records() == []


def test_stale_stripe_timestamp_is_401_stale_timestamp(stack: Stack):
    event = stripe_event()
    body = compact(event)
    stale = int(time.time()) - STRIPE_TOLERANCE - 60
    assert_refused(stack.post("stripe", body, Signer.stripe(body, stale)), 401, "stale_timestamp")
    assert stack.log.records() == []
    # The same body within the tolerance is fine: the refusal was about the timestamp alone.
    recent = int(time.time()) - STRIPE_TOLERANCE + 60
    assert assert_accepted(stack.post("stripe", body, Signer.stripe(body, recent)), "approved") == event["id"]
    assert len(stack.log.records()) == 1


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_wrong_method_is_405_with_allow_post(stack: Stack, method):
    for endpoint in ("veriff", "stripe"):
        body = None if method in ("GET", "DELETE") else b"{}"
        response = stack.request(method, f"/webhooks/{endpoint}", body)
        assert_refused(response, 405, "method_not_allowed")
        assert response.headers.get("Allow") == "POST", response.headers.items()
    assert stack.log.records() == []


def test_healthz_wrong_method_is_405_with_allow_get_head(stack: Stack):
    response = stack.request("POST", "/webhooks/healthz", b"{}")
    assert_refused(response, 405, "method_not_allowed")
    assert response.headers.get("Allow") == "GET, HEAD"


def test_healthz_is_reached_only_at_its_own_location_never_as_the_last_segment_of_a_longer_path(stack: Stack):
    """verdict-location.conf keeps /webhooks/healthz for local monitoring; Verdict routes on the last segment, so
    nginx itself must refuse longer paths that end in healthz (each check writes and syncs a block)."""
    for path in ("/webhooks/x/healthz", "/webhooks/healthz/", "/webhooks/x%2Fhealthz", "/webhooks/a/b/healthz//"):
        response = stack.request("GET", path)
        assert response.status == 404, (path, response)
        assert b"status" not in response.body, (path, response.body[:200])
    assert stack.request("GET", "/webhooks/healthz").status == 200


def test_unknown_endpoint_is_404_unknown_endpoint(stack: Stack):
    body = compact(veriff_decision())
    assert_refused(stack.post("nonexistent", body, Signer.veriff(body)), 404, "unknown_endpoint")
    # Routing is on the last segment: /webhooks/veriff/extra is endpoint "extra", not veriff.
    response = stack.request("POST", "/webhooks/veriff/extra", body, Signer.veriff(body))
    assert_refused(response, 404, "unknown_endpoint")
    assert stack.log.records() == []


def veriff_body_of_size(size: int) -> bytes:
    payload = veriff_decision(vendorData="")
    base = len(compact(payload))
    assert base < size
    payload["verification"]["vendorData"] = "x" * (size - base)
    body = compact(payload)
    assert len(body) == size
    return body


def test_body_over_max_body_bytes_is_413_body_too_large(make_stack, mode):
    limit = 2048  # nginx's client_max_body_size stays 1m: the 413 must come from Verdict
    stack = make_stack(mode, max_body_bytes=limit)
    over = veriff_body_of_size(limit + 1)
    assert_refused(stack.post("veriff", over, Signer.veriff(over)), 413, "body_too_large")
    # Refused before the body is read, while nginx may still be sending it: every answer must still reach the
    # client (no 502 from a connection closed under nginx's feet).
    for size in (64 * 1024, 512 * 1024) * 5:
        big = veriff_body_of_size(size)
        assert_refused(stack.post("veriff", big, Signer.veriff(big)), 413, "body_too_large")
    assert stack.log.records() == []
    # Exactly at the limit is accepted.
    at_limit = veriff_body_of_size(limit)
    assert_accepted(stack.post("veriff", at_limit, Signer.veriff(at_limit)), "approved")
    assert len(stack.log.records()) == 1


def test_body_just_over_the_default_max_body_bytes_gets_verdicts_json_413_through_the_shipped_snippet(make_stack):
    """nginx's own limit (client_max_body_size in nginx/verdict-location.conf) must sit above Verdict's default, or
    nginx answers an HTML 413 itself."""
    stack = make_stack("serve", workers=1)
    over = veriff_body_of_size(1048576 + 1)
    assert_refused(stack.post("veriff", over, Signer.veriff(over)), 413, "body_too_large")
    assert stack.log.records() == []


@pytest.mark.parametrize("endpoint", ["veriff", "stripe"])
def test_signed_invalid_json_is_400_invalid_json(stack: Stack, endpoint):
    good = compact(veriff_decision() if endpoint == "veriff" else stripe_event())
    for body in (good[:-1], b'{"status": "success", "verification": }', good + b"garbage"):
        headers = Signer.veriff(body) if endpoint == "veriff" else Signer.stripe(body)
        assert_refused(stack.post(endpoint, body, headers), 400, "invalid_json")
    assert stack.log.records() == []
    # The valid original is accepted: the 400s were about the JSON.
    headers = Signer.veriff(good) if endpoint == "veriff" else Signer.stripe(good)
    assert stack.post(endpoint, good, headers).status == 200


def test_healthz_is_200_ok(stack: Stack):
    response = stack.request("GET", "/webhooks/healthz")
    assert response.status == 200, response
    assert response.json() == {"status": "ok"}
    head = stack.request("HEAD", "/webhooks/healthz")
    assert head.status == 200 and head.body == b""

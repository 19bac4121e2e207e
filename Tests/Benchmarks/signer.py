#!/usr/bin/env python3
"""Writes a corpus of distinct, validly signed webhook events for Tests/Benchmarks/run (standard library only).

  signer.py --provider stripe|veriff --secret S --count N --out FILE [--seed K]

One line per event: HEADER_NAME <TAB> HEADER_VALUE <TAB> BODY (compact JSON, no newline inside). Every event has
its own ids, so Verdict's redelivery check cannot skip the work. Stripe signatures carry the current time and
Stripe's tolerance is 300 s: make the corpus just before use.
"""
import argparse
import hashlib
import hmac
import json
import random
import time
import uuid

STRIPE_STATES = [
    ("verified", None),
    ("requires_input", ("document_expired", "The provided identity document has expired.")),
    ("processing", None),
    ("canceled", None),
]
VERIFF_STATES = [
    ("approved", 9001, None, None),
    ("declined", 9102, 102, "Suspected document tampering"),
    ("resubmission_requested", 9103, 204, "Poor image quality"),
    ("expired", 9104, None, None),
    ("review", 9121, None, None),
]


def hex_id(rng: random.Random, length: int) -> str:
    return uuid.UUID(int=rng.getrandbits(128)).hex[:length]


def stripe(rng: random.Random, n: int, secret: str, now: int) -> tuple[str, str, bytes]:
    status, error = STRIPE_STATES[n % len(STRIPE_STATES)]
    event = {
        "id": "evt_" + hex_id(rng, 24),
        "object": "event",
        "api_version": "2024-06-20",
        "created": now,
        "data": {"object": {
            "id": "vs_" + hex_id(rng, 24),
            "object": "identity.verification_session",
            "client_reference_id": f"user_{n}",
            "client_secret": "vs_secret_" + hex_id(rng, 32),
            "created": now - 60,
            "last_error": {"code": error[0], "reason": error[1]} if error else None,
            "livemode": False,
            "metadata": {"order": str(n)},
            "status": status,
            "type": "document",
            "url": "https://verify.stripe.com/start/" + hex_id(rng, 32),
        }},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "identity.verification_session." + status,
    }
    body = json.dumps(event, separators=(",", ":")).encode()
    mac = hmac.new(secret.encode(), str(now).encode() + b"." + body, hashlib.sha256).hexdigest()
    return "Stripe-Signature", f"t={now},v1={mac}", body


def veriff(rng: random.Random, n: int, secret: str, now: int) -> tuple[str, str, bytes]:
    status, code, reason_code, reason = VERIFF_STATES[n % len(VERIFF_STATES)]
    decision = {
        "status": "success",
        "verification": {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "attemptId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "vendorData": f"user-{n}",
            "endUserId": None,
            "status": status,
            "code": code,
            "reason": reason,
            "reasonCode": reason_code,
            "decisionTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now)),
            "acceptanceTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now - 300)),
            "person": {"firstName": "SARAH", "lastName": "MORGAN", "dateOfBirth": "1967-03-30", "idNumber": None},
            "document": {"type": "DRIVERS_LICENSE", "number": "MORGA753116SM9IJ", "country": "GB",
                         "validUntil": "2030-04-20"},
            "additionalVerifiedData": {},
        },
        "technicalData": {"ip": "186.153.67.122"},
    }
    body = json.dumps(decision, separators=(",", ":")).encode()
    return "X-HMAC-SIGNATURE", hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(), body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provider", choices=["stripe", "veriff"], required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    make = stripe if args.provider == "stripe" else veriff
    now = int(time.time())
    with open(args.out, "wb") as out:
        for n in range(args.count):
            name, value, body = make(rng, n, args.secret, now)
            out.write(name.encode() + b"\t" + value.encode() + b"\t" + body + b"\n")


if __name__ == "__main__":
    main()

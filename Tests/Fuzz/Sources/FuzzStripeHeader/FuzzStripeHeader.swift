import FuzzSupport
import VerdictCore

/// One `Stripe-Signature` header value per input (the input's bytes, decoded as UTF-8 like the transport does).
///
/// Checks, besides never crashing:
/// - `StripeSignatureHeader.parse` agrees with `StripePython`, a code-point model of stripe-python's parser;
/// - `StripeProvider.authenticate` gives the result stripe-python would (missing, malformed, mismatch, stale, or
///   accepted) for two bodies at three clocks: a fixed one and either side of the tolerance boundary;
/// - the same with a valid `v1` for the header's timestamp appended, so the accepting paths are fuzzed too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let header = String(decoding: inputBytes(data, size), as: UTF8.self)
    let model = StripePython.parse(header)
    checkParse(header, model)
    for body in bodies {
        checkAuthenticate(header, model, body: body)
        if let timestamp = model.timestamp {
            let signed = header + ",v1=" + signature(timestamp: timestamp, body: body)
            let signedModel = StripePython.parse(signed)
            checkParse(signed, signedModel)
            checkAuthenticate(signed, signedModel, body: body)
        }
    }
    return 0
}

@_cdecl("FuzzStripeHeader_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzzOneInput)
}

let tolerance: Int64 = 300
let provider = StripeProvider(secrets: [Secret(FuzzKeys.stripe)], toleranceSeconds: tolerance)
/// The S-1 (stripe-python `DUMMY_WEBHOOK_PAYLOAD`) and S-2 payloads, so the seed headers S-1 and S-2 verify.
let bodies: [[UInt8]] = [
    Array(
        """
        {
          "id": "evt_test_webhook",
          "object": "event",
          "data": { "object": { "id": "rdr_123", "object": "terminal.reader" } }
        }
        """.utf8
    ),
    Array(
        (#"{"id":"evt_1Pgc76B7WZ01zgkWwyRHS12y","object":"event","api_version":"2024-06-20","created":1700000000,"#
            + #""data":{"object":{"id":"vs_1Pgc76B7WZ01zgkWBdQi8PTU","object":"identity.verification_session","#
            + #""client_reference_id":"user_42","client_secret":null,"created":1699999900,"last_error":null,"#
            + #""last_verification_report":"vr_QXhW13B2hsHOm43JtUgs0f0w","livemode":false,"#
            + #""metadata":{"user_id":"42"},"options":{"document":{"require_matching_selfie":true}},"#
            + #""redaction":null,"status":"verified","type":"document","url":null}},"livemode":false,"#
            + #""pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"#
            + #""type":"identity.verification_session.verified"}"#).utf8
    ),
]
let fixedNow = Timestamp(millisecondsSinceEpoch: 1_700_000_100_000)

/// `hex(HMAC-SHA256(secret, "<t>.<body>"))`, the `v1` stripe-python computes.
func signature(timestamp: String, body: [UInt8]) -> String {
    Hex.encode(Digest.hmacSHA256(Secret(FuzzKeys.stripe), Array((timestamp + ".").utf8), body))
}

func checkParse(_ header: String, _ model: StripePython) {
    let result: Result<StripeSignatureHeader, StripeSignatureHeader.ParseError>
    do {
        result = .success(try StripeSignatureHeader.parse(header))
    } catch {
        result = .failure(error)
    }
    switch (model.outcome, result) {
    case (.undecided, _):
        break
    case (.missing, .failure(.unreadable)), (.unreadable, .failure(.unreadable)),
        (.noV1Signature, .failure(.noV1Signature)):
        break
    case (.parsed(let timestamp, let signatures), .success(let parsed)):
        require(parsed.timestamp == timestamp, "t is \(parsed.timestamp), stripe-python reads \(timestamp)")
        require(
            parsed.signatures.map { Array($0.unicodeScalars) } == signatures.map { Array($0.unicodeScalars) },
            "v1 values \(parsed.signatures), stripe-python reads \(signatures)"
        )
    default:
        fatalError(
            "fuzz invariant failed: parse gives \(result), stripe-python \(model.outcome) for \(header.debugDescription)"
        )
    }
}

func checkAuthenticate(_ header: String, _ model: StripePython, body: [UInt8]) {
    let request = WebhookRequest(parameters: ["HTTP_STRIPE_SIGNATURE": header], body: body)
    var clocks = [fixedNow]
    if case .parsed(let timestamp, _) = model.outcome, let seconds = Int64(timestamp),
        case (let milliseconds, false) = seconds.multipliedReportingOverflow(by: 1000),
        case (let edge, false) = milliseconds.addingReportingOverflow(tolerance * 1000), edge < .max
    {
        clocks += [Timestamp(millisecondsSinceEpoch: edge), Timestamp(millisecondsSinceEpoch: edge + 1)]
    }
    let python = model.verifier(body: body)
    for now in clocks {
        let outcome: Rejection?
        do {
            try provider.authenticate(request, now: now)
            outcome = nil
        } catch {
            outcome = error
            checkRejection(error)
            require(error.status == 401, "authentication refused with \(error.status)")
        }
        guard let expected = python(now, tolerance) else { continue }
        switch (expected, outcome) {
        case (.accepted, nil):
            break
        case (.stale, .timestampOutsideTolerance(let age, let limit)?):
            require(limit == tolerance && age >= tolerance, "stale by \(age) s with tolerance \(limit)")
        case (.refused(let rejection), let actual?) where rejection == actual:
            break
        default:
            fatalError(
                "fuzz invariant failed: authenticate gives \(String(describing: outcome)), "
                    + "stripe-python \(expected) for \(header.debugDescription) at \(now.millisecondsSinceEpoch)"
            )
        }
    }
}

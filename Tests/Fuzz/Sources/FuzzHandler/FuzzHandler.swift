import FuzzSupport
import VerdictCore

/// One whole request per input, for `WebhookHandler.handle`:
///
/// ```
/// byte 0      flags: bit 0 sign the body for the routed endpoint (as `verdict sign` does),
///                    bit 1 set CONTENT_LENGTH to the body's length,
///                    bits 2-3 the routing parameter (PATH_INFO, DOCUMENT_URI, SCRIPT_NAME, REQUEST_URI),
///                    bits 4-5 the extra header (X-AUTH-CLIENT, VRF-HMAC-SIGNATURE, X-SIGNATURE, Stripe-Signature)
/// then five lines: REQUEST_METHOD, path, CONTENT_LENGTH, X-HMAC-SIGNATURE, the extra header (empty: absent)
/// the rest    the body
/// ```
///
/// Checks, besides never crashing: the action is the same twice; every response has an allowed status
/// (200/400/401/404/405/411/413/503) and a JSON body; an accepted record's line holds the record invariants, its
/// redelivery key is endpoint NUL event id, and both its 200 answers are JSON.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let request = makeRequest(inputBytes(data, size))
    let action = handler.handle(request, now: now)
    check(action, for: request)
    require(summary(action) == summary(handler.handle(request, now: now)), "the same request was handled differently")
    return 0
}

@_cdecl("FuzzHandler_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzzOneInput)
}

let configurationText = """
    log_dir = "log"
    max_body_bytes = 65536

    [[endpoint]]
    name = "veriff"
    provider = "veriff"
    secrets = ["\(FuzzKeys.veriff)"]

    [[endpoint]]
    name = "veriff-strict"
    provider = "veriff"
    secrets = ["\(FuzzKeys.veriff)"]
    auth_client = "\(FuzzKeys.authClient)"
    legacy_signature = true

    [[endpoint]]
    name = "stripe"
    provider = "stripe"
    secrets = ["\(FuzzKeys.stripe)"]
    tolerance_seconds = 300
    """

let handler: WebhookHandler = {
    do {
        let document = try ConfigDocument(text: configurationText, file: "/fuzz/verdict.toml")
        let configuration = try Configuration(document) { (path: String) throws(ConfigurationError) -> String in
            throw ConfigurationError(file: path, problem: "no secret files while fuzzing")
        }
        return WebhookHandler(configuration: configuration)
    } catch {
        fatalError("fuzz configuration: \(error)")
    }
}()

let now = Timestamp(millisecondsSinceEpoch: 1_763_900_000_123)
let routingKeys = ["PATH_INFO", "DOCUMENT_URI", "SCRIPT_NAME", "REQUEST_URI"]
let extraHeaders = ["HTTP_X_AUTH_CLIENT", "HTTP_VRF_HMAC_SIGNATURE", "HTTP_X_SIGNATURE", "HTTP_STRIPE_SIGNATURE"]

func makeRequest(_ input: [UInt8]) -> WebhookRequest {
    let flags = input.first ?? 0
    var rest = input.dropFirst()
    var fields: [String] = []
    for _ in 0..<5 {
        let end = rest.firstIndex(of: 0x0A) ?? rest.endIndex
        fields.append(String(decoding: rest[..<end], as: UTF8.self))
        rest = end < rest.endIndex ? rest[(end + 1)...] : rest[end...]
    }
    let body = Array(rest)
    var parameters: [String: String] = [:]
    let names = [
        "REQUEST_METHOD", routingKeys[Int(flags >> 2 & 3)], "CONTENT_LENGTH", "HTTP_X_HMAC_SIGNATURE",
        extraHeaders[Int(flags >> 4 & 3)],
    ]
    for (name, value) in zip(names, fields) where !value.isEmpty { parameters[name] = value }
    if flags & 2 != 0 { parameters["CONTENT_LENGTH"] = String(body.count) }
    let unsigned = WebhookRequest(parameters: parameters, body: body)
    if flags & 1 != 0, let endpoint = handler.endpoints.first(where: { $0.name == unsigned.routingName }) {
        for header in endpoint.provider.signatureHeaders(for: body, now: now) {
            let name = "HTTP_" + String(header.name.uppercased().map { $0 == "-" ? "_" : $0 })
            parameters[name] = header.value
        }
    }
    return WebhookRequest(parameters: parameters, body: body)
}

func check(_ action: WebhookHandler.Action, for request: WebhookRequest) {
    switch action {
    case .respond(let response):
        require(response.status != 200, "a 200 without a record")
        checkResponse(response)
    case .checkHealth:
        require(request.routingName == "healthz", "health check for \(request.routingName)")
        require(["GET", "HEAD"].contains(request.method), "health check for method \(request.method)")
    case .record(let accepted):
        let record = accepted.record
        require(request.method == "POST", "recorded a \(request.method)")
        require(record.endpoint == request.routingName, "recorded for \(record.endpoint)")
        require(
            accepted.redeliveryKey == record.endpoint + "\u{0}" + record.interpretation.eventID,
            "redelivery key \(accepted.redeliveryKey.debugDescription)"
        )
        checkInterpretation(record.interpretation, provider: record.provider)
        checkRecordLine(accepted.line, of: record)
        checkResponse(accepted.response(duplicate: false))
        checkResponse(accepted.response(duplicate: true))
    }
}

/// What an action amounts to, comparable.
func summary(_ action: WebhookHandler.Action) -> [UInt8] {
    switch action {
    case .respond(let response):
        Array("\(response.status) \(response.headers.map { "\($0.name): \($0.value)" })".utf8) + response.body
    case .checkHealth: Array("health".utf8)
    case .record(let accepted): accepted.line + Array(accepted.redeliveryKey.utf8)
    }
}

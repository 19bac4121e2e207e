import FuzzSupport
import VerdictCore

/// One webhook body per input, after its signature was accepted.
///
/// Checks, besides never crashing:
/// - `JSONParser`: a refusal answers 400 with a JSON body; an accepted value written compactly by `JSONWriter`
///   re-parses to the same value and writes back to the same bytes, and so does the accepted text compacted;
/// - `VeriffProvider.interpret` and `StripeProvider.interpret`: a refusal answers 400 with a JSON body; an
///   accepted payload obeys the contract's classification rules, and its record line is valid UTF-8 with one
///   `\n` at the end, re-parses with `JSONParser`, passes `RecordValidator` and carries every field unchanged.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let body = inputBytes(data, size)
    let payload: JSONValue
    do {
        payload = try JSONParser.parse(body)
    } catch {
        let rejection = Rejection.invalidPayload(error)
        require(rejection.status == 400, "JSON refused with \(rejection.status)")
        checkRejection(rejection)
        return 0
    }
    checkRoundTrip(payload)
    checkCompacting(body, of: payload)
    for provider in providers {
        let interpretation: Interpretation
        do {
            interpretation = try provider.interpret(payload, body: body)
        } catch {
            require(error.status == 400, "\(provider.name) refused a payload with \(error.status)")
            checkRejection(error)
            continue
        }
        checkInterpretation(interpretation, provider: provider.name)
        let record = DecisionRecord(
            receivedAt: receivedAt,
            endpoint: provider.name,
            provider: provider.name,
            interpretation: interpretation
        )
        checkRecordLine(record.jsonLine(), of: record)
        // What the handler writes when the provider left the payload as parsed.
        if interpretation.payload == payload { checkRecordLine(record.jsonLine(payloadText: body), of: record) }
        checkResponse(.recorded(eventID: interpretation.eventID, outcome: interpretation.outcome, duplicate: false))
    }
    return 0
}

@_cdecl("FuzzPayloads_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzzOneInput)
}

let providers: [any WebhookProvider] = [
    VeriffProvider(secrets: [Secret(FuzzKeys.veriff)]),
    StripeProvider(secrets: [Secret(FuzzKeys.stripe)]),
]
let receivedAt = Timestamp(millisecondsSinceEpoch: 1_763_900_000_123)

/// Writing a parsed value and parsing it again is lossless, and writing is stable.
func checkRoundTrip(_ value: JSONValue) {
    var writer = JSONWriter()
    writer.write(value)
    let reparsed = parseOneLine(writer.bytes, writtenBy: "JSONWriter")
    require(reparsed == value, "value changed across write and parse")
    var again = JSONWriter()
    again.write(reparsed)
    require(again.bytes == writer.bytes, "JSONWriter output is not stable")
}

/// The accepted text compacted is one line that parses to the same value.
func checkCompacting(_ body: [UInt8], of value: JSONValue) {
    var writer = JSONWriter()
    writer.write(compacting: body)
    require(parseOneLine(writer.bytes, writtenBy: "compacting") == value, "value changed across compacting")
}

/// `written` is valid UTF-8 without a line break, and parses; returns the value.
func parseOneLine(_ written: [UInt8], writtenBy writer: String) -> JSONValue {
    require(String(validating: written, as: UTF8.self) != nil, "\(writer) wrote invalid UTF-8")
    require(!written.contains(0x0A) && !written.contains(0x0D), "\(writer) wrote a line break")
    do {
        return try JSONParser.parse(written)
    } catch {
        fatalError("fuzz invariant failed: \(writer) output does not re-parse: \(error.message)")
    }
}

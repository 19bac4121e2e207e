/// A parsed `Stripe-Signature` header: `t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]`.
///
/// Parsing follows stripe-python's `WebhookSignature` item for item, so Verdict accepts and refuses exactly what
/// Stripe's library does: items split on `,`, each on its first `=` (text after a second `=` is dropped), the first
/// `t` wins and must be an integer as Python's `int()` reads it, every `v1` is a candidate, other schemes (`v0`) are
/// ignored, and an item `t` or `v1` without `=` makes the whole header unreadable.
public struct StripeSignatureHeader: Equatable, Sendable {
    /// The timestamp in canonical decimal, exactly as it enters the signed payload (`"%d" % t`).
    public var timestamp: String
    /// The `v1` values, verbatim.
    public var signatures: [String]

    /// Why a header cannot be used.
    public enum ParseError: Error, Equatable, Sendable {
        /// "Unable to extract timestamp and signatures from header".
        case unreadable
        /// "No signatures found with expected scheme v1".
        case noV1Signature
    }

    public static func parse(_ header: String) throws(ParseError) -> StripeSignatureHeader {
        var timestampText: String? = nil
        var signatures: [String] = []
        for item in header.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "=", maxSplits: 2, omittingEmptySubsequences: false)
            switch parts[0] {
            case "t":
                guard parts.count > 1 else { throw .unreadable }
                if timestampText == nil { timestampText = String(parts[1]) }
            case "v1":
                guard parts.count > 1 else { throw .unreadable }
                signatures.append(String(parts[1]))
            default:
                continue
            }
        }
        guard let timestampText, let timestamp = pythonInteger(timestampText) else { throw .unreadable }
        guard !signatures.isEmpty else { throw .noV1Signature }
        return StripeSignatureHeader(timestamp: timestamp, signatures: signatures)
    }

    /// The timestamp as seconds, or nil when it does not fit in 64 bits (then only its sign matters).
    public var seconds: Int64? { Int64(timestamp) }

    /// Reads `text` as Python's `int()` does for ASCII input (surrounding whitespace, an optional sign, digits with
    /// single underscores between them) and returns it in canonical form, or nil.
    static func pythonInteger(_ text: String) -> String? {
        let whitespace: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F]
        var bytes = Array(text.utf8)[...]
        while let first = bytes.first, whitespace.contains(first) { bytes.removeFirst() }
        while let last = bytes.last, whitespace.contains(last) { bytes.removeLast() }
        var negative = false
        if let first = bytes.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            negative = first == UInt8(ascii: "-")
            bytes.removeFirst()
        }
        var digits: [UInt8] = []
        var previousWasDigit = false
        for byte in bytes {
            if byte >= 0x30 && byte <= 0x39 {
                digits.append(byte)
                previousWasDigit = true
            } else if byte == UInt8(ascii: "_") && previousWasDigit {
                previousWasDigit = false
            } else {
                return nil
            }
        }
        guard !digits.isEmpty, previousWasDigit else { return nil }
        while digits.count > 1, digits.first == UInt8(ascii: "0") { digits.removeFirst() }
        let canonical = String(decoding: digits, as: UTF8.self)
        return negative && canonical != "0" ? "-" + canonical : canonical
    }
}

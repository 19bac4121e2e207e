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
        var text = header
        // Split on bytes: ',' and '=' are ASCII, so this is Python's split on code points.
        let result: Result<StripeSignatureHeader, ParseError> = text.withUTF8 { bytes in
            do throws(ParseError) {
                return .success(try parse(bytes))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(ParseError) -> StripeSignatureHeader {
        var timestampText: String? = nil
        var signatures: [String] = []
        var itemStart = 0
        while itemStart <= bytes.count {
            let itemEnd = bytes[itemStart...].firstIndex(of: UInt8(ascii: ",")) ?? bytes.count
            let item = bytes[itemStart..<itemEnd]
            itemStart = itemEnd + 1
            let firstEquals = item.firstIndex(of: UInt8(ascii: "="))
            let key = item[..<(firstEquals ?? itemEnd)]
            let isTimestamp = key.elementsEqual("t".utf8)
            guard isTimestamp || key.elementsEqual("v1".utf8) else { continue }
            guard let firstEquals else { throw .unreadable }
            let rest = item[(firstEquals + 1)...]
            let value = String(
                decoding: UnsafeBufferPointer(rebasing: rest[..<(rest.firstIndex(of: UInt8(ascii: "=")) ?? itemEnd)]),
                as: UTF8.self
            )
            if !isTimestamp {
                signatures.append(value)
            } else if timestampText == nil {
                timestampText = value
            }
        }
        guard let timestampText, let timestamp = pythonInteger(timestampText) else { throw .unreadable }
        guard !signatures.isEmpty else { throw .noV1Signature }
        return StripeSignatureHeader(timestamp: timestamp, signatures: signatures)
    }

    /// The timestamp as seconds, or nil when it does not fit in 64 bits (then only its sign matters).
    public var seconds: Int64? { Int64(timestamp) }

    private static let pythonWhitespace: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F]

    /// Python's default `sys.get_int_max_str_digits()`: `int()` refuses longer decimal text with a ValueError, which
    /// stripe-python reports as an unreadable header.
    static let pythonMaximumDigits = 4300

    /// Reads `text` as Python's `int()` does for ASCII input (surrounding whitespace, an optional sign, digits with
    /// single underscores between them, at most 4300 digits counting leading zeros) and returns it in canonical
    /// form, or nil.
    static func pythonInteger(_ text: String) -> String? {
        // Every real header: plain digits without a leading zero are already canonical.
        let utf8 = text.utf8
        if let first = utf8.first, first != UInt8(ascii: "0"), utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            return utf8.count <= pythonMaximumDigits ? text : nil
        }
        var bytes = Array(text.utf8)[...]
        while let first = bytes.first, pythonWhitespace.contains(first) { bytes.removeFirst() }
        while let last = bytes.last, pythonWhitespace.contains(last) { bytes.removeLast() }
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
        guard !digits.isEmpty, previousWasDigit, digits.count <= pythonMaximumDigits else { return nil }
        while digits.count > 1, digits.first == UInt8(ascii: "0") { digits.removeFirst() }
        let canonical = String(decoding: digits, as: UTF8.self)
        return negative && canonical != "0" ? "-" + canonical : canonical
    }
}

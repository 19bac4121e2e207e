import FuzzSupport
import VerdictCore

/// stripe-python's `WebhookSignature.verify_header`, written out over Unicode code points as Python strings are:
///
/// ```python
/// list_items = [i.split("=", 2) for i in header.split(",")]
/// timestamp = int([i[1] for i in list_items if i[0] == "t"][0])
/// signatures = [i[1] for i in list_items if i[0] == "v1"]
/// ```
/// then "no signatures" is its own error, `hmac.compare_digest` against every `v1`, and only
/// `timestamp < time.time() - tolerance` is refused.
struct StripePython {
    enum Outcome: Equatable {
        case parsed(timestamp: String, signatures: [String])
        case missing
        case unreadable
        case noV1Signature
        /// The first `t` holds non-ASCII text: Python's `int()` reads Unicode digits and spaces, a case Verdict does
        /// not claim to follow (Stripe only sends ASCII digits).
        case undecided
    }

    enum Verdict: Equatable {
        case accepted
        case stale
        case refused(Rejection)
    }

    var outcome: Outcome
    /// The canonical timestamp (`"%d" % t`) when the first `t` is an integer, even if no `v1` came.
    var timestamp: String?

    static func parse(_ header: String) -> StripePython {
        // `construct_event` is never reached without a header; Verdict answers missing_signature.
        guard !header.isEmpty else { return StripePython(outcome: .missing) }
        let items = Array(header.unicodeScalars).split(separator: ",", omittingEmptySubsequences: false)
        var timestamps: [ArraySlice<Unicode.Scalar>] = []
        var signatures: [String] = []
        var indexError = false
        for item in items {
            let parts = item.split(separator: "=", maxSplits: 2, omittingEmptySubsequences: false)
            let key = parts.first ?? []
            if key.elementsEqual("t".unicodeScalars) {
                if parts.count > 1 { timestamps.append(parts[1]) } else { indexError = true }
            } else if key.elementsEqual("v1".unicodeScalars) {
                if parts.count > 1 { signatures.append(string(parts[1])) } else { indexError = true }
            }
        }
        // Any `t` or `v1` item without `=` raises IndexError inside the `try`, as does a header without `t`.
        guard !indexError, let first = timestamps.first else { return StripePython(outcome: .unreadable) }
        guard first.allSatisfy(\.isASCII) else { return StripePython(outcome: .undecided) }
        guard let timestamp = pythonInt(Array(first)) else { return StripePython(outcome: .unreadable) }
        guard !signatures.isEmpty else { return StripePython(outcome: .noV1Signature, timestamp: timestamp) }
        return StripePython(outcome: .parsed(timestamp: timestamp, signatures: signatures), timestamp: timestamp)
    }

    init(outcome: Outcome, timestamp: String? = nil) {
        self.outcome = outcome
        self.timestamp = timestamp
    }

    /// What `verify_header(body, header, secret, tolerance)` does at a given clock, as Verdict reports it; the
    /// closure answers nil when undecided. The MAC is computed once per body, the clock only moves the age check.
    func verifier(body: [UInt8]) -> (Timestamp, Int64) -> Verdict? {
        let name = "Stripe-Signature"
        switch outcome {
        case .undecided:
            return { _, _ in nil }
        case .missing:
            return { _, _ in .refused(.missingSignature(header: name)) }
        case .unreadable:
            return { _, _ in
                .refused(.malformedSignature(header: name, detail: "no readable t= timestamp and v1= signature"))
            }
        case .noV1Signature:
            return { _, _ in .refused(.malformedSignature(header: name, detail: "no signature with scheme v1")) }
        case .parsed(let timestamp, let signatures):
            let expected = Array(
                Hex.encode(
                    Digest.hmacSHA256(Secret(FuzzKeys.stripe), Array((timestamp + ".").utf8), body)
                ).unicodeScalars
            )
            guard signatures.contains(where: { Array($0.unicodeScalars) == expected }) else {
                return { _, _ in .refused(.signatureMismatch(header: name)) }
            }
            return { now, tolerance in Self.isStale(timestamp, now: now, tolerance: tolerance) ? .stale : .accepted }
        }
    }

    /// `t < now - tolerance`, exactly (Python integers do not overflow; `now` has millisecond precision).
    static func isStale(_ timestamp: String, now: Timestamp, tolerance: Int64) -> Bool {
        let negative = timestamp.hasPrefix("-")
        let digits = negative ? timestamp.dropFirst() : Substring(timestamp)
        // Beyond 30 digits the sign decides: |t| * 1000 dwarfs any Int64 clock.
        guard digits.count <= 30, let magnitude = Int128(digits) else { return negative }
        let milliseconds = (negative ? -magnitude : magnitude) * 1000
        return milliseconds < Int128(now.millisecondsSinceEpoch) - Int128(tolerance) * 1000
    }

    /// Python's `int()` for ASCII text: surrounding whitespace, one sign, digits with single `_` between them.
    static func pythonInt(_ scalars: [Unicode.Scalar]) -> String? {
        let space: Set<Unicode.Scalar> = [
            " ", "\t", "\n", "\u{0B}", "\u{0C}", "\r", "\u{1C}", "\u{1D}", "\u{1E}", "\u{1F}",
        ]
        var text = scalars[...]
        while let first = text.first, space.contains(first) { text = text.dropFirst() }
        while let last = text.last, space.contains(last) { text = text.dropLast() }
        var negative = false
        if let sign = text.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            text = text.dropFirst()
        }
        guard let first = text.first, let last = text.last, isDigit(first), isDigit(last) else { return nil }
        var digits = ""
        var previous: Unicode.Scalar = "_"
        for scalar in text {
            if isDigit(scalar) {
                digits.unicodeScalars.append(scalar)
            } else if scalar != "_" || previous == "_" {
                return nil
            }
            previous = scalar
        }
        // CPython's default limit on decimal text (`sys.get_int_max_str_digits()`), leading zeros included.
        guard digits.unicodeScalars.count <= 4300 else { return nil }
        while digits.count > 1, digits.hasPrefix("0") { digits.removeFirst() }
        return negative && digits != "0" ? "-" + digits : digits
    }

    static func isDigit(_ scalar: Unicode.Scalar) -> Bool { ("0"..."9").contains(scalar) }

    static func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        var text = ""
        text.unicodeScalars.append(contentsOf: scalars)
        return text
    }
}

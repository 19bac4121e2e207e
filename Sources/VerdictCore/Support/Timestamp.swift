/// A point in time as milliseconds since the Unix epoch, UTC. The core never reads a clock: callers pass one in.
public struct Timestamp: Comparable, Hashable, Sendable {
    public var millisecondsSinceEpoch: Int64

    public init(millisecondsSinceEpoch: Int64) {
        self.millisecondsSinceEpoch = millisecondsSinceEpoch
    }

    public init(secondsSinceEpoch: Int64) {
        self.millisecondsSinceEpoch = secondsSinceEpoch * 1000
    }

    /// Whole seconds since the epoch (rounded down).
    public var secondsSinceEpoch: Int64 { Self.floorDivide(millisecondsSinceEpoch, 1000).quotient }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.millisecondsSinceEpoch < rhs.millisecondsSinceEpoch
    }

    /// The times whose `iso8601` has a four-digit year (0000-01-01 to 9999-12-31), as the record schema requires.
    public static let fourDigitYears =
        Timestamp(millisecondsSinceEpoch: -62_167_219_200_000)...Timestamp(millisecondsSinceEpoch: 253_402_300_799_999)

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public var iso8601: String {
        let fields = civilFields
        let millis = Int(Self.floorDivide(millisecondsSinceEpoch, 1000).remainder)
        guard (0...9999).contains(fields.year) else {
            let (date, secondsOfDay) = civil
            return "\(date)T\(pad(secondsOfDay / 3600, 2)):\(pad(secondsOfDay / 60 % 60, 2)):"
                + "\(pad(secondsOfDay % 60, 2)).\(pad(millis, 3))Z"
        }
        // Four-digit years (every real one): 24 bytes written in place, no intermediate strings.
        let seconds = fields.secondsOfDay
        return String(unsafeUninitializedCapacity: 24) { buffer in
            var at = 0
            Self.put(fields.year, width: 4, separator: "-", into: buffer, at: &at)
            Self.put(fields.month, width: 2, separator: "-", into: buffer, at: &at)
            Self.put(fields.day, width: 2, separator: "T", into: buffer, at: &at)
            Self.put(seconds / 3600, width: 2, separator: ":", into: buffer, at: &at)
            Self.put(seconds / 60 % 60, width: 2, separator: ":", into: buffer, at: &at)
            Self.put(seconds % 60, width: 2, separator: ".", into: buffer, at: &at)
            Self.put(millis, width: 3, separator: "Z", into: buffer, at: &at)
            return at
        }
    }

    /// `YYYY-MM-DD` (UTC), the day a record belongs to.
    public var utcDay: String {
        let fields = civilFields
        guard (0...9999).contains(fields.year) else { return civil.date }
        return String(unsafeUninitializedCapacity: 10) { buffer in
            var at = 0
            Self.put(fields.year, width: 4, separator: "-", into: buffer, at: &at)
            Self.put(fields.month, width: 2, separator: "-", into: buffer, at: &at)
            Self.put(fields.day, width: 2, separator: nil, into: buffer, at: &at)
            return at
        }
    }

    /// Writes `value` zero-padded to `width` digits, then `separator`; written in place because these strings are
    /// made for every request.
    private static func put(
        _ value: Int,
        width: Int,
        separator: Unicode.Scalar?,
        into buffer: UnsafeMutableBufferPointer<UInt8>,
        at position: inout Int
    ) {
        var rest = value
        for offset in stride(from: width - 1, through: 0, by: -1) {
            buffer[position + offset] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        }
        position += width
        if let separator {
            buffer[position] = UInt8(ascii: separator)
            position += 1
        }
    }

    /// The day number since 1970-01-01 (UTC).
    public var daysSinceEpoch: Int64 { Self.floorDivide(secondsSinceEpoch, 86_400).quotient }

    private var civil: (date: String, secondsOfDay: Int) {
        let fields = civilFields
        return ("\(pad(fields.year, 4))-\(pad(fields.month, 2))-\(pad(fields.day, 2))", fields.secondsOfDay)
    }

    private var civilFields: (year: Int, month: Int, day: Int, secondsOfDay: Int) {
        let (days, secondsOfDay64) = Self.floorDivide(secondsSinceEpoch, 86_400)
        let secondsOfDay = Int(secondsOfDay64)
        // Howard Hinnant's days-to-civil algorithm.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day), secondsOfDay)
    }

    /// Division rounding toward negative infinity, with a remainder in `0..<divisor`; never overflows (no `x - 999`).
    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let (quotient, remainder) = value.quotientAndRemainder(dividingBy: divisor)
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }

    private func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}

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
    public var secondsSinceEpoch: Int64 {
        millisecondsSinceEpoch >= 0 ? millisecondsSinceEpoch / 1000 : (millisecondsSinceEpoch - 999) / 1000
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.millisecondsSinceEpoch < rhs.millisecondsSinceEpoch
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public var iso8601: String {
        let (date, secondsOfDay) = civil
        let millis = Int(millisecondsSinceEpoch - secondsSinceEpoch * 1000)
        return "\(date)T\(pad(secondsOfDay / 3600, 2)):\(pad(secondsOfDay / 60 % 60, 2)):\(pad(secondsOfDay % 60, 2))"
            + ".\(pad(millis, 3))Z"
    }

    /// `YYYY-MM-DD` (UTC), the day a record belongs to.
    public var utcDay: String { civil.date }

    /// The day number since 1970-01-01 (UTC).
    public var daysSinceEpoch: Int64 {
        let seconds = secondsSinceEpoch
        return seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
    }

    private var civil: (date: String, secondsOfDay: Int) {
        let days = daysSinceEpoch
        let secondsOfDay = Int(secondsSinceEpoch - days * 86_400)
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
        return ("\(pad(Int(year), 4))-\(pad(Int(month), 2))-\(pad(Int(day), 2))", secondsOfDay)
    }

    private func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}

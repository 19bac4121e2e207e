import Testing
import VerdictCore

@Suite("Timestamp")
struct TimestampTests {
    /// Milliseconds since the epoch and the expected text; the numbers come from Python's `datetime` in UTC.
    static let cases: [(Int64, String)] = [
        (0, "1970-01-01T00:00:00.000Z"),
        (1, "1970-01-01T00:00:00.001Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (-1000, "1969-12-31T23:59:59.000Z"),
        (-1001, "1969-12-31T23:59:58.999Z"),
        (86_399_999, "1970-01-01T23:59:59.999Z"),
        (86_400_000, "1970-01-02T00:00:00.000Z"),
        (1_700_000_000_000, "2023-11-14T22:13:20.000Z"),
        // Leap day and the midnight after it.
        (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),
        (1_709_251_200_000, "2024-03-01T00:00:00.000Z"),
        // 2023 is not a leap year.
        (1_677_628_799_999, "2023-02-28T23:59:59.999Z"),
        (1_677_628_800_000, "2023-03-01T00:00:00.000Z"),
        // 2000 is (divisible by 400); 1900 and 2100 are not (divisible by 100).
        (951_825_600_000, "2000-02-29T12:00:00.000Z"),
        (-2_203_891_200_001, "1900-02-28T23:59:59.999Z"),
        (-2_203_891_200_000, "1900-03-01T00:00:00.000Z"),
        (4_107_542_399_999, "2100-02-28T23:59:59.999Z"),
        (4_107_542_400_000, "2100-03-01T00:00:00.000Z"),
        // New year.
        (1_735_689_599_999, "2024-12-31T23:59:59.999Z"),
        (1_735_689_600_000, "2025-01-01T00:00:00.000Z"),
        // 32-bit rollover, far past and far future.
        (2_147_483_648_000, "2038-01-19T03:14:08.000Z"),
        (-11_670_912_000_000, "1600-03-01T00:00:00.000Z"),
        (-62_135_596_800_000, "0001-01-01T00:00:00.000Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    ]

    @Test("iso8601 and utcDay", arguments: cases)
    func format(_ milliseconds: Int64, _ expected: String) {
        let timestamp = Timestamp(millisecondsSinceEpoch: milliseconds)
        #expect(timestamp.iso8601 == expected)
        #expect(timestamp.utcDay == String(expected.prefix(10)))
    }

    @Test("Whole seconds and days round down, also before the epoch")
    func rounding() {
        #expect(Timestamp(millisecondsSinceEpoch: 999).secondsSinceEpoch == 0)
        #expect(Timestamp(millisecondsSinceEpoch: -1).secondsSinceEpoch == -1)
        #expect(Timestamp(millisecondsSinceEpoch: -1000).secondsSinceEpoch == -1)
        #expect(Timestamp(millisecondsSinceEpoch: -1001).secondsSinceEpoch == -2)
        #expect(Timestamp(millisecondsSinceEpoch: 86_399_999).daysSinceEpoch == 0)
        #expect(Timestamp(millisecondsSinceEpoch: 86_400_000).daysSinceEpoch == 1)
        #expect(Timestamp(millisecondsSinceEpoch: -1).daysSinceEpoch == -1)
        #expect(Timestamp(millisecondsSinceEpoch: -86_400_000).daysSinceEpoch == -1)
        #expect(Timestamp(millisecondsSinceEpoch: -86_400_001).daysSinceEpoch == -2)
    }

    @Test("init(secondsSinceEpoch:) and ordering")
    func secondsAndOrder() {
        #expect(Timestamp(secondsSinceEpoch: 12_345) == Timestamp(millisecondsSinceEpoch: 12_345_000))
        #expect(Timestamp(millisecondsSinceEpoch: -1) < Timestamp(millisecondsSinceEpoch: 0))
        #expect(Timestamp(secondsSinceEpoch: 2) > Timestamp(millisecondsSinceEpoch: 1_999))
    }

    @Test("The extremes of Int64 format without trapping", arguments: [Int64.min, Int64.min + 1, Int64.max])
    func extremes(_ milliseconds: Int64) {
        let text = Timestamp(millisecondsSinceEpoch: milliseconds).iso8601
        #expect(text.hasSuffix("Z"))
        #expect(text.contains("T"))
    }
}

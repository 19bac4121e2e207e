import Testing

@testable import FastCGI

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

@Suite("GatewayParameters")
struct GatewayParametersTests {
    /// The parameters of a C environment array holding `entries` (raw bytes, so invalid UTF-8 can be sent).
    func parameters(_ entries: [[UInt8]]) -> GatewayParameters {
        var pointers: [UnsafeMutablePointer<CChar>?] = entries.map { entry in
            let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: entry.count + 1)
            for (offset, byte) in entry.enumerated() { pointer[offset] = CChar(bitPattern: byte) }
            pointer[entry.count] = 0
            return pointer
        }
        pointers.append(nil)
        defer { for pointer in pointers { pointer?.deallocate() } }
        return pointers.withUnsafeMutableBufferPointer { GatewayParameters(environment: $0.baseAddress!) }
    }

    @Test("a value is found by its exact name, split at the first '='; absent names and entries without '=' are nil")
    func lookup() {
        let found = parameters([
            Array("REQUEST_METHOD=POST".utf8), Array("QUERY_STRING=a=b".utf8), Array("EMPTY=".utf8),
            Array("NO_EQUALS".utf8), Array("HTTP_X_HMAC_SIGNATURE=ab12".utf8),
        ])
        #expect(found["REQUEST_METHOD"] == "POST")
        #expect(found["QUERY_STRING"] == "a=b")
        #expect(found["EMPTY"] == "")
        #expect(found["NO_EQUALS"] == nil)
        #expect(found["REQUEST"] == nil)
        #expect(found["REQUEST_METHODS"] == nil)
        #expect(found["request_method"] == nil)
        #expect(found["HTTP_X_HMAC_SIGNATURE"] == "ab12")
        #expect(GatewayParameters()["REQUEST_METHOD"] == nil)
    }

    @Test("a later duplicate wins, and bytes that are not UTF-8 are replaced")
    func duplicatesAndInvalidBytes() {
        let found = parameters([
            Array("SCRIPT_NAME=/first".utf8), Array("SCRIPT_NAME=/second".utf8), Array("HTTP_X=a".utf8) + [0xFF],
        ])
        #expect(found["SCRIPT_NAME"] == "/second")
        #expect(found["HTTP_X"] == "a\u{FFFD}")
    }

    @Test("an appended parameter is found, replaces an earlier value of its name, and leaves the others")
    func appended() {
        var found = parameters([Array("CONTENT_LENGTH=7".utf8), Array("REQUEST_METHOD=POST".utf8)])
        found.append(name: "CONTENT_LENGTH", value: "12")
        found.append(name: "HTTP_X", value: "a=b")
        #expect(found["CONTENT_LENGTH"] == "12")
        #expect(found["HTTP_X"] == "a=b")
        #expect(found["REQUEST_METHOD"] == "POST")
        var empty = GatewayParameters()
        empty.append(name: "EMPTY", value: "")
        #expect(empty["EMPTY"] == "")
    }
}

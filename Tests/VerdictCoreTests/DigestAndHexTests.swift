import Testing
import VerdictCore

@Suite("Hex and Digest")
struct DigestAndHexTests {
    @Test(
        "Hex.decode accepts even-length hex of either case and nothing else",
        arguments: [
            ("", [] as [UInt8]?), ("00ff", [0x00, 0xFF]), ("00FF", [0x00, 0xFF]), ("aB", [0xAB]), ("0", nil),
            ("abc", nil), ("0g", nil), ("0x00", nil), (" 00", nil), ("00 ", nil), ("٠٠", nil),
        ] as [(String, [UInt8]?)]
    )
    func decode(_ text: String, _ expected: [UInt8]?) {
        #expect(Hex.decode(text) == expected)
    }

    @Test("Hex.encode writes lowercase, two digits per byte")
    func encode() {
        #expect(Hex.encode([0x00, 0x0F, 0xA0, 0xFF]) == "000fa0ff")
        #expect(Hex.encode([UInt8]()) == "")
        let all = (0...255).map(UInt8.init)
        #expect(Hex.decode(Hex.encode(all)) == all)
    }

    @Test("constantTimeEqual compares bytes and lengths")
    func constantTimeEqual() {
        #expect(Digest.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(Digest.constantTimeEqual([], []))
        #expect(!Digest.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!Digest.constantTimeEqual([1, 2, 3], [1, 2]))
        #expect(!Digest.constantTimeEqual([0x80], [0x00]))
    }

    @Test("isValidHMACSHA256 refuses a truncated or extended MAC")
    func macLengths() {
        let mac = Digest.hmacSHA256(Secret("k"), Array("body".utf8))
        #expect(Digest.isValidHMACSHA256(mac, secret: Secret("k"), Array("body".utf8)))
        #expect(!Digest.isValidHMACSHA256(Array(mac.dropLast()), secret: Secret("k"), Array("body".utf8)))
        #expect(!Digest.isValidHMACSHA256(mac + [0], secret: Secret("k"), Array("body".utf8)))
        #expect(!Digest.isValidHMACSHA256([], secret: Secret("k"), Array("body".utf8)))
    }

    @Test("HMAC-SHA256 matches the swift-crypto check in the style guide")
    func knownHMAC() {
        #expect(
            Hex.encode(Digest.hmacSHA256(Secret("secret"), Array("body".utf8)))
                == "dc46983557fea127b43af721467eb9b3fde2338fe3e14f51952aa8478c13d355"
        )
    }

    @Test("SHA-256 of the empty string and of \"abc\"")
    func sha256() {
        #expect(Hex.encode(Digest.sha256([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            Hex.encode(Digest.sha256(Array("a".utf8), Array("bc".utf8)))
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )
    }

    @Test("stableKey is 32 hex digits, deterministic, and keeps parts apart")
    func stableKey() {
        let key = Digest.stableKey(["a", "b"])
        #expect(key.count == 32)
        #expect(Hex.decode(key)?.count == 16)
        #expect(Digest.stableKey(["a", "b"]) == key)
        #expect(Digest.stableKey(["ab", ""]) != Digest.stableKey(["a", "b"]))
        #expect(Digest.stableKey(["ab"]) != Digest.stableKey(["a", "b"]))
        // The first 16 bytes of SHA-256("a\0b").
        #expect(key == String(Hex.encode(Digest.sha256([0x61, 0x00, 0x62])).prefix(32)))
    }
}

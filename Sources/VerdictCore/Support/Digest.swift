internal import Crypto

/// HMAC and hashing helpers over swift-crypto, so providers never handle MAC bytes by hand.
public enum Digest {
    /// HMAC-SHA256 of the concatenated `parts` under `secret`.
    public static func hmacSHA256(_ secret: Secret, _ parts: [UInt8]...) -> [UInt8] {
        var mac = secret.keyedHMAC
        for part in parts { part.withUnsafeBytes { mac.update(data: $0) } }
        return mac.finalize().withUnsafeBytes { Array($0) }
    }

    /// Constant-time check that `candidate` is the HMAC-SHA256 of the concatenated `parts` under `secret`.
    public static func isValidHMACSHA256(_ candidate: [UInt8], secret: Secret, _ parts: [UInt8]...) -> Bool {
        var mac = secret.keyedHMAC
        // Updated through raw buffers: the generic `DataProtocol` path cost more than the hashing itself.
        for part in parts { part.withUnsafeBytes { mac.update(data: $0) } }
        // swift-crypto's `==` against bytes is a constant-time comparison.
        return mac.finalize() == candidate
    }

    /// SHA-256 of the concatenated `parts`.
    public static func sha256(_ parts: [UInt8]...) -> [UInt8] {
        var hash = SHA256()
        for part in parts { part.withUnsafeBytes { hash.update(bufferPointer: $0) } }
        return hash.finalize().withUnsafeBytes { Array($0) }
    }

    /// Constant-time equality of two byte strings of the same length (false when lengths differ).
    public static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }

    /// A short stable key: the first 16 bytes of SHA-256 over the parts joined by NUL, in hex.
    public static func stableKey(_ parts: [String]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(parts.reduce(parts.count) { $0 + $1.utf8.count })
        for (offset, part) in parts.enumerated() {
            if offset > 0 { bytes.append(0) }
            bytes.append(contentsOf: part.utf8)
        }
        return Hex.encode(sha256(bytes).prefix(16))
    }
}

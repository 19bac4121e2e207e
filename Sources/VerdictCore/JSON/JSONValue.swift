/// A JSON value as the sender wrote it: members keep their order and numbers keep their exact text, so a payload
/// written back into the log says what the provider said (no float rounding, no reordering).
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// The number's literal text, already checked against the JSON grammar.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The member named `key` when this is an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    /// The text when this is a string.
    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The value when this is an integer that fits in `Int`.
    public var intValue: Int? {
        if case .number(let text) = self { return Int(text) }
        return nil
    }

    /// The value when this is a boolean.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The object when this is one.
    public var objectValue: JSONObject? {
        if case .object(let object) = self { return object }
        return nil
    }

    /// True for JSON `null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

/// A JSON object with unique keys in the order they were sent.
public struct JSONObject: Equatable, Sendable {
    /// One `"key": value` pair.
    public struct Member: Equatable, Sendable {
        public let key: String
        public var value: JSONValue
        /// `JSONObject.hash(key)`: lookups and the parser's duplicate check compare this before the key.
        let keyHash: UInt64

        public init(key: String, value: JSONValue) {
            self.key = key
            self.value = value
            keyHash = JSONObject.hash(key)
        }

        init(key: String, value: JSONValue, keyHash: UInt64) {
            self.key = key
            self.value = value
            self.keyHash = keyHash
        }
    }

    public private(set) var members: [Member]

    public init(_ members: [Member] = []) {
        self.members = members
    }

    /// The value of `key`, or nil when absent. Objects from providers are small, so a scan (of key hashes first)
    /// beats a hash table.
    public subscript(key: String) -> JSONValue? {
        get { index(of: key).map { members[$0].value } }
        set {
            if let index = index(of: key) {
                if let newValue { members[index].value = newValue } else { members.remove(at: index) }
            } else if let newValue {
                members.append(Member(key: key, value: newValue))
            }
        }
    }

    /// Whether `key` is present (even with a null value).
    public func contains(_ key: String) -> Bool {
        index(of: key) != nil
    }

    private func index(of key: String) -> Int? {
        let hash = Self.hash(key)
        return members.firstIndex { $0.keyHash == hash && Self.sameKey($0.key, key) }
    }

    /// FNV-1a over the key's UTF-8 bytes: equal keys (by bytes, as `sameKey` compares) hash equal.
    static func hash(_ key: String) -> UInt64 {
        var text = key
        return text.withUTF8 { bytes in
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            return hash
        }
    }

    /// A key hashed and compared by its UTF-8 bytes, as `sameKey` compares (String's own `Hashable` follows `==`).
    /// Hashed with the seeded `Hasher`, not `Member.keyHash`: FNV-1a collisions can be made to order, and this set
    /// is what keeps a body of thousands of keys from taking quadratic time.
    struct KeyBytes: Hashable {
        let key: String

        init(_ key: String) { self.key = key }

        static func == (lhs: KeyBytes, rhs: KeyBytes) -> Bool { JSONObject.sameKey(lhs.key, rhs.key) }

        func hash(into hasher: inout Hasher) {
            var text = key
            text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        }
    }

    /// JSON compares keys by code points (RFC 8259 §8.3); Swift's `==` would also equate canonically equivalent
    /// spellings ("é" and "e\u{301}", "K" and "\u{212A}"), which are distinct keys to every other JSON reader.
    static func sameKey(_ lhs: String, _ rhs: String) -> Bool {
        // Byte-equal strings are always `==`, and `==` is a cheap test for the usual case of different keys (for
        // ASCII it compares bytes); only a match is confirmed byte by byte, through contiguous storage.
        guard lhs.utf8.count == rhs.utf8.count, lhs == rhs else { return false }
        var left = lhs
        var right = rhs
        return left.withUTF8 { l in right.withUTF8 { r in l.elementsEqual(r) } }
    }
}

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The web servers allowed to connect over TCP: `FCGI_WEB_SERVER_ADDRS`, a comma-separated list of IP addresses,
/// as libfcgi reads it. Empty or unset, anyone may. libfcgi checks IPv4 peers only; IPv6 ones are checked here too,
/// so that a list written for one web server does not let the rest of the network in over IPv6.
struct WebServerAddresses: Sendable {
    private var ipv4: [in_addr_t] = []
    private var ipv6: [[UInt8]] = []
    private let anyone: Bool

    /// - Parameter list: unset or empty, anyone may connect. Set, it must name at least one address: a list whose
    ///   entries all came out empty (`${A},${B}` with neither set) lets no one in under libfcgi, and here stops
    ///   the start instead.
    init(list: String?) throws(FastCGIError) {
        anyone = (list ?? "").isEmpty
        if anyone { return }
        let entries = (list ?? "").split(separator: ",").map(Self.trimmed).filter { !$0.isEmpty }
        guard !entries.isEmpty else { throw .invalidWebServerAddress(list ?? "") }
        for entry in entries {
            var v4 = in_addr()
            var v6 = in6_addr()
            if inet_pton(AF_INET, entry, &v4) == 1 {
                ipv4.append(v4.s_addr)
            } else if inet_pton(AF_INET6, entry, &v6) == 1 {
                let bytes = withUnsafeBytes(of: v6) { Array($0) }
                if let mapped = Self.mappedIPv4(bytes) { ipv4.append(mapped) } else { ipv6.append(bytes) }
            } else {
                throw .invalidWebServerAddress(entry)
            }
        }
    }

    /// The IPv4 address in an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), in network order; nil for any other.
    private static func mappedIPv4(_ bytes: [UInt8]) -> in_addr_t? {
        guard bytes[0..<12].elementsEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]) else { return nil }
        return bytes[12..<16].withUnsafeBytes { $0.loadUnaligned(as: in_addr_t.self) }
    }

    private static func trimmed(_ entry: Substring) -> String {
        var entry = entry
        while entry.first?.isWhitespace == true { entry.removeFirst() }
        while entry.last?.isWhitespace == true { entry.removeLast() }
        return String(entry)
    }

    /// Whether a connection from `peer` may be served. An IPv4 peer reaching an IPv6 socket (`::ffff:a.b.c.d`)
    /// counts as IPv4.
    func admit(_ peer: sockaddr_storage) -> Bool {
        if anyone { return true }
        var peer = peer
        switch Int32(peer.ss_family) {
        case AF_INET:
            let address = withUnsafeBytes(of: &peer) { $0.load(as: sockaddr_in.self) }.sin_addr.s_addr
            return ipv4.contains(address)
        case AF_INET6:
            let bytes = withUnsafeBytes(of: &peer) { raw in
                withUnsafeBytes(of: raw.load(as: sockaddr_in6.self).sin6_addr) { Array($0) }
            }
            if let mapped = Self.mappedIPv4(bytes) { return ipv4.contains(mapped) }
            return ipv6.contains(bytes)
        default:
            return false
        }
    }
}

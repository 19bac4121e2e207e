import Testing

@testable import FastCGI

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

@Suite("FCGI_WEB_SERVER_ADDRS")
struct WebServerAddressesTests {
    func peer(_ text: String) -> sockaddr_storage {
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { raw in
            var v4 = in_addr()
            var v6 = in6_addr()
            if inet_pton(AF_INET, text, &v4) == 1 {
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_addr = v4
                raw.storeBytes(of: address, as: sockaddr_in.self)
            } else if inet_pton(AF_INET6, text, &v6) == 1 {
                var address = sockaddr_in6()
                address.sin6_family = sa_family_t(AF_INET6)
                address.sin6_addr = v6
                raw.storeBytes(of: address, as: sockaddr_in6.self)
            }
        }
        return storage
    }

    @Test("unset or empty, anyone may connect")
    func unrestricted() throws {
        for list in [nil, ""] {
            let addresses = try WebServerAddresses(list: list)
            #expect(addresses.admit(peer("192.0.2.7")))
            #expect(addresses.admit(peer("2001:db8::7")))
        }
    }

    @Test("only the listed addresses may connect, IPv4 and IPv6, an IPv4 peer on an IPv6 socket as IPv4")
    func restricted() throws {
        let addresses = try WebServerAddresses(list: "127.0.0.1, 192.0.2.10 ,::1")
        #expect(addresses.admit(peer("127.0.0.1")))
        #expect(addresses.admit(peer("192.0.2.10")))
        #expect(addresses.admit(peer("::1")))
        #expect(addresses.admit(peer("::ffff:192.0.2.10")))
        #expect(!addresses.admit(peer("127.0.0.2")))
        #expect(!addresses.admit(peer("192.0.2.1")))
        #expect(!addresses.admit(peer("::2")))
        #expect(!addresses.admit(peer("::ffff:192.0.2.1")))
        #expect(!addresses.admit(sockaddr_storage()))
        let mapped = try WebServerAddresses(list: "::ffff:192.0.2.10")
        #expect(mapped.admit(peer("192.0.2.10")))
        #expect(mapped.admit(peer("::ffff:192.0.2.10")))
        #expect(!mapped.admit(peer("192.0.2.1")))
    }

    @Test("an entry that is not an IP address, or a list of none, is refused and named")
    func invalid() {
        let cases = [
            ("127.0.0.1,localhost", "localhost"), ("10.0.0.0/8", "10.0.0.0/8"), ("1.2.3", "1.2.3"), (",", ","),
            (" , ", " , "),
        ]
        for (list, entry) in cases {
            #expect(throws: FastCGIError.invalidWebServerAddress(entry)) { try WebServerAddresses(list: list) }
        }
        #expect(
            FastCGIError.invalidWebServerAddress("localhost").description.hasPrefix(
                "FCGI_WEB_SERVER_ADDRS: \"localhost\" is not an IP address"
            )
        )
    }
}

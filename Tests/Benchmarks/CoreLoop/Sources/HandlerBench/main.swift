import VerdictCore

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

// Usage: HandlerBench stripe|veriff SECRET CORPUS [ROUNDS]
// CORPUS: lines of HEADER_NAME <TAB> HEADER_VALUE <TAB> BODY (Tests/Benchmarks/signer.py). Prints the time per
// request of `WebhookHandler.handle` for each round over the whole corpus, then the best round.

let arguments = CommandLine.arguments
guard arguments.count >= 4, ["stripe", "veriff"].contains(arguments[1]) else {
    fputs("usage: HandlerBench stripe|veriff SECRET CORPUS [ROUNDS]\n", stderr)
    exit(64)
}
let provider = arguments[1]
let secret = arguments[2]
let corpus = arguments[3]
let rounds = arguments.count > 4 ? Int(arguments[4]) ?? 7 : 7
let configurationText = """
    log_dir = "/nonexistent"
    [[endpoint]]
    name = "\(provider)"
    provider = "\(provider)"
    secrets = ["\(secret)"]
    """
let configuration = try Configuration(ConfigDocument(text: configurationText, file: "/benchmark/verdict.toml")) {
    (path: String) throws(ConfigurationError) -> String in
    throw ConfigurationError(file: path, problem: "no secret files in the benchmark")
}
let handler = WebhookHandler(configuration: configuration)

/// The parameters nginx's `fastcgi_params` passes, plus the signature header.
func parameters(header: String, value: String, length: Int) -> [String: String] {
    let path = "/webhooks/\(provider)"
    return [
        "QUERY_STRING": "", "REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": String(length), "SCRIPT_NAME": path, "REQUEST_URI": path, "DOCUMENT_URI": path,
        "DOCUMENT_ROOT": "/usr/share/nginx/html", "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_SCHEME": "https",
        "HTTPS": "on", "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "nginx", "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000", "SERVER_ADDR": "127.0.0.1", "SERVER_PORT": "443", "SERVER_NAME": "",
        "REDIRECT_STATUS": "200", "HTTP_HOST": "127.0.0.1", "HTTP_CONTENT_TYPE": "application/json",
        "HTTP_CONTENT_LENGTH": String(length),
        "HTTP_" + String(header.uppercased().map { $0 == "-" ? "_" : $0 }): value,
    ]
}

var requests: [WebhookRequest] = []
guard let file = fopen(corpus, "r") else {
    fputs("HandlerBench: cannot open \(corpus)\n", stderr)
    exit(66)
}
var line: UnsafeMutablePointer<CChar>? = nil
var capacity = 0
while getline(&line, &capacity, file) > 0, let line {
    let fields = String(cString: line).dropLast().split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
    guard fields.count == 3 else { continue }
    let body = Array(fields[2].utf8)
    requests.append(
        WebhookRequest(
            parameters: parameters(header: String(fields[0]), value: String(fields[1]), length: body.count),
            body: body
        )
    )
}
fclose(file)
guard !requests.isEmpty else {
    fputs("HandlerBench: no events in \(corpus)\n", stderr)
    exit(65)
}

func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

var wallClock = timespec()
clock_gettime(CLOCK_REALTIME, &wallClock)
// Now, so that Stripe's signature timestamps (made just before) are within its tolerance.
let now = Timestamp(millisecondsSinceEpoch: Int64(wallClock.tv_sec) * 1000)
var best = Double.infinity
for round in 1...max(1, rounds) {
    var bytes = 0
    let start = monotonicNanoseconds()
    for request in requests {
        guard case .record(let accepted) = handler.handle(request, now: now) else {
            fputs(
                "HandlerBench: an event was not accepted; is the corpus fresh and signed with the bench secret?\n",
                stderr
            )
            exit(1)
        }
        bytes &+= accepted.line.count
    }
    let perRequest = Double(monotonicNanoseconds() - start) / Double(requests.count) / 1000
    best = min(best, perRequest)
    let rounded = (perRequest * 100).rounded() / 100
    print("\(provider) round \(round): \(rounded) µs per request (\(bytes / requests.count) bytes per line)")
}
print("\(provider) best of \(rounds): \((best * 100).rounded() / 100) µs per request over \(requests.count) events")

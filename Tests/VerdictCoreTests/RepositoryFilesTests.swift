import Foundation
import Testing
import VerdictCore

/// The files shipped in `Config/` agree with the core: the example configuration loads, and the record schema
/// lists the fields in the order the core writes them.
@Suite("Shipped configuration and schema")
struct RepositoryFilesTests {
    /// The repository's root, found from this file's path (Tests/VerdictCoreTests/<file>).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func read(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: root.appendingPathComponent(path)))
    }

    @Test("Config/verdict.example.toml loads, with the documented defaults")
    func exampleConfiguration() throws {
        let text = try Self.read("Config/verdict.example.toml").text
        let document = try ConfigDocument(text: text, file: "/etc/verdict/verdict.toml")
        let configuration = try Configuration(document) { (path: String) throws(ConfigurationError) -> String in
            throw ConfigurationError(file: path, problem: "the example names no secret file")
        }
        #expect(configuration.endpoints.map(\.name) == ["veriff", "stripe"])
        #expect(configuration.endpoints.map(\.provider.name) == ["veriff", "stripe"])
        #expect(configuration.maxBodyBytes == Configuration.defaultMaxBodyBytes)
        #expect(configuration.dedupRetentionDays == Configuration.defaultRetentionDays)
        #expect(configuration.threads == Configuration.defaultThreads(fsync: true))
        #expect(configuration.fsync)
        #expect(configuration.hasInlineSecrets)
        // Its secrets are public: every endpoint that accepts one is named, for a warning.
        #expect(configuration.endpointsWithDemoSecrets == ["veriff", "stripe"])
        let own = text.replacingOccurrences(of: "demo", with: "mine")
        let configured = try Configuration(try ConfigDocument(text: own, file: "/etc/verdict/verdict.toml")) {
            (path: String) throws(ConfigurationError) -> String in
            throw ConfigurationError(file: path, problem: "the example names no secret file")
        }
        #expect(configured.endpointsWithDemoSecrets.isEmpty)
    }

    @Test("Config/verdict-record.schema.json lists the record's fields in the written order, all required")
    func schemaOrder() throws {
        let schema = try JSONParser.parse(try Self.read("Config/verdict-record.schema.json"))
        let properties = try #require(schema["properties"])
        #expect(keys(of: properties) == DecisionRecordTests.contractKeys)
        let required = try #require(schema["required"])
        #expect(required == .array(DecisionRecordTests.contractKeys.map(JSONValue.string)))
        #expect(schema["additionalProperties"] == .bool(false))
    }

    @Test("The schema's outcome and kind enums are the core's")
    func schemaEnums() throws {
        let schema = try JSONParser.parse(try Self.read("Config/verdict-record.schema.json"))
        #expect(
            schema["properties"]?["outcome"]?["enum"] == .array(Outcome.allCases.map { .string($0.rawValue) })
        )
        #expect(schema["properties"]?["kind"]?["enum"] == .array([.string("decision"), .string("event")]))
    }
}

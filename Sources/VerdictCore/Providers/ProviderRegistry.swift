/// Every provider Verdict knows. Adding a provider means adding its folder and one line here.
public enum ProviderRegistry {
    public static let factories: [any ProviderFactory.Type] = [
        VeriffFactory.self,
        StripeFactory.self,
    ]

    static func factory(named name: String) -> (any ProviderFactory.Type)? {
        factories.first { $0.name == name }
    }
}

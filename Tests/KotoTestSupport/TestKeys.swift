public import KotoCore
public import KotoCrypto
public import KotoStore

/// One Ed25519 key per office of the test region (the real region's five
/// offices), made once per test run, and the region every test store belongs to.
public enum TestKeys {
    public static let municipalities: [Municipality] = MunicipalityRegistry.ostrobothnianCoast.all
    public static let offices: [String] = municipalities.map(\.slug)
    public static let signing: [String: SigningKey] = Dictionary(uniqueKeysWithValues: offices.map { ($0, try! SigningKey.generate()) })
    public static let publicKeys: [String: [PublicKey]] = signing.mapValues { [$0.publicKey] }
    public static let region = RegionKeys(publicKeys)

    /// The store identity of `node`: its own key, or jakobstad's for a node outside the region.
    public static func identity(_ node: String) -> StoreIdentity {
        StoreIdentity(signingKey: signing[node] ?? signing["jakobstad"]!, region: region)
    }
}

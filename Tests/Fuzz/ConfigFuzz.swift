// libFuzzer harness for KotoNode's configuration loader (built by
// deploy/fuzz.sh): any bytes must give a NodeConfig or a ConfigError
// naming the problem, never trap. Nothing is read from disk: parse()
// resolves paths but opens none.
import KotoNode

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let config = try NodeConfig.parse(bytes, baseDirectory: "/etc/kotosync")
        precondition(!config.node.isEmpty && (1...65535).contains(config.port), "an accepted config with no node or port")
    } catch {
        precondition(!error.description.isEmpty, "a config error without a reason")
    }
    return 0
}

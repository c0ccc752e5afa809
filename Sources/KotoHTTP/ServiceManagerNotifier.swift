import Glibc

/// systemd's readiness protocol without libsystemd: `sd_notify` is one
/// datagram ("READY=1", "STOPPING=1", "STATUS=...") sent to the AF_UNIX
/// socket named by `$NOTIFY_SOCKET` (a path, or `@name` in the abstract
/// namespace). Without the variable (not started by systemd with
/// `Type=notify`) every call does nothing.
public struct ServiceManagerNotifier: Sendable {
    /// The socket path as systemd gave it, or nil.
    public let socketPath: String?

    public init(environment: [String: String]) {
        let path = environment["NOTIFY_SOCKET"] ?? ""
        socketPath = path.isEmpty ? nil : path
    }

    /// Sends `state` (newline-separated assignments); returns false when there is nobody to tell.
    @discardableResult
    public func notify(_ state: String) throws(SystemCallError) -> Bool {
        guard let socketPath else { return false }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(socketPath.utf8)
        if pathBytes.first == UInt8(ascii: "@") { pathBytes[0] = 0 }  // abstract namespace
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else { throw SystemCallError(operation: "NOTIFY_SOCKET", code: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count)
        let descriptor = try systemCall("socket") { Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
            .get("socket")
        let owner = Socket(adopting: descriptor)  // closes it
        let payload = Array(state.utf8)
        let sent = try withUnsafePointer(to: &address) { pointer throws(SystemCallError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (generic) throws(SystemCallError) in
                try systemCall("sendto") {
                    payload.withUnsafeBytes { sendto(owner.descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), generic, length) }
                }.get("sendto")
            }
        }
        guard sent == payload.count else { throw SystemCallError(operation: "sendto", code: EMSGSIZE) }
        return true
    }
}

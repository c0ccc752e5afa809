import Glibc

/// A failed POSIX call together with its `errno`, so callers can tell a
/// refused bind from a full descriptor table without parsing strings.
public struct SystemCallError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The call that failed, such as `"bind"` or `"recv"`.
    public let operation: String
    /// The `errno` value the call left behind.
    public let code: Int32

    public init(operation: String, code: Int32) {
        self.operation = operation
        self.code = code
    }

    public var description: String {
        "\(operation) failed: \(String(cString: strerror(code))) (errno \(code))"
    }
}

/// What a POSIX call on a non-blocking descriptor produced: a value, or the
/// news that it would have blocked (EAGAIN), which is not an error.
enum IOOutcome<Value> {
    case completed(Value)
    case wouldBlock

    /// The value, treating "would block" as a failure; for calls on which
    /// EAGAIN cannot legitimately happen.
    func get(_ operation: StaticString) throws(SystemCallError) -> Value {
        switch self {
        case .completed(let value): return value
        case .wouldBlock: throw SystemCallError(operation: "\(operation)", code: EAGAIN)
        }
    }
}

/// The one gate every POSIX call in this module goes through (except
/// `close`, see `Socket.deinit`): it retries EINTR, reports EAGAIN as
/// `.wouldBlock`, and turns any other `-1` result into a `SystemCallError`.
func systemCall<Result: FixedWidthInteger>(
    _ operation: StaticString,
    _ body: () -> Result
) throws(SystemCallError) -> IOOutcome<Result> {
    while true {
        let result = body()
        if result != -1 { return .completed(result) }
        let code = errno
        if code == EINTR { continue }
        if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
        throw SystemCallError(operation: "\(operation)", code: code)
    }
}

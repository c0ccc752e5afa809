public import KotoCore

/// The `{"error": {"code", "message", "problems"?}}` document every kotosync
/// error answers with, parsed once for every test target that checks one.
public struct ErrorBody: Sendable, Hashable {
    public var code: String?
    public var message: String?
    /// `problems` as (field, reason) pairs, in order.
    public var problems: [FieldProblem]

    /// Nil when `body` is not JSON or holds no `error` object.
    public init?(_ body: [UInt8]) {
        guard let error = (try? JSONValue.parse(body))?["error"], error.objectMembers != nil else { return nil }
        code = error["code"]?.stringValue
        message = error["message"]?.stringValue
        problems = (error["problems"]?.arrayValue ?? []).compactMap { item in
            guard let field = item["field"]?.stringValue, let reason = item["reason"]?.stringValue else { return nil }
            return FieldProblem(field: field, reason: reason)
        }
    }
}

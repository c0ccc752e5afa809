public import KotoHTTP
public import KotoCore

/// What each store refusal means to an API client. The store's own faults
/// (a database of another node, a newer schema, corruption, a key the
/// manifest does not list) are 500s: the router logs their description and
/// the client sees only the generic internal error.
extension ReplicaStoreError: HTTPResponseError {
    public var status: HTTPStatus {
        switch self {
        case .invalid: .unprocessableContent
        case .notFound: .notFound
        case .alreadyExists, .batchRefused, .forked: .conflict
        case .erased, .snapshotRequired: .gone
        case .notMember: .forbidden
        case .ownChainForked: .serviceUnavailable
        case .nodeMismatch, .schemaTooNew, .corrupt, .keyNotListed: .internalServerError
        }
    }

    public var code: String {
        switch self {
        case .invalid: "validation_failed"
        case .notFound: "not_found"
        case .alreadyExists: "already_exists"
        case .erased: "erased"
        case .batchRefused: "batch_refused"
        case .snapshotRequired: "snapshot_required"
        case .notMember: "not_a_member"
        case .forked: "fork"
        case .ownChainForked: "forked"
        case .nodeMismatch, .schemaTooNew, .corrupt, .keyNotListed: "internal"
        }
    }

    public var message: String {
        switch self {
        case .invalid(let problems): FieldProblem.summary(of: problems)
        case .batchRefused(let reason): reason
        default: description
        }
    }

    public var problems: [HTTPProblem] {
        switch self {
        case .invalid(let problems): problems.map(\.httpProblem)
        case .notMember(let node): [HTTPProblem(field: "versionVector", reason: "names \(node), which is not a member of the region")]
        default: []
        }
    }
}

/// A resolution of a conflict that is not (or no longer) open: 404, as for an unknown id.
extension ConflictNotOpen: HTTPResponseError {
    public var status: HTTPStatus { .notFound }
    public var code: String { "not_found" }
    public var message: String { description }
}

extension FieldProblem {
    /// The same problem as an error response names it.
    public var httpProblem: HTTPProblem { HTTPProblem(field: field, reason: reason) }

    /// "N problem(s) with the record": the message of a validation failure.
    public static func summary(of problems: [FieldProblem]) -> String {
        "\(problems.count) problem\(problems.count == 1 ? "" : "s") with the record"
    }
}

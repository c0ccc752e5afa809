public import KotoHTTP
public import KotoCore
import CSQLite
import Glibc

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

/// The disk under the data directory is full (SQLite's `SQLITE_FULL`, or an
/// I/O error whose errno is ENOSPC or EDQUOT): HTTP 507 `insufficient_storage`.
/// Whatever failed was rolled back whole (a write, a batch, an access-log
/// entry); the message says what was refused and what the operator does,
/// and names no record.
public struct InsufficientStorage: HTTPResponseError, Sendable, Equatable {
    public var status: HTTPStatus { .insufficientStorage }
    public var code: String { "insufficient_storage" }
    /// What could not be stored, as a clause: "the write was not saved".
    public let refused: String

    public init(refused: String = "the write was not saved (nothing of it was kept)") { self.refused = refused }

    public var message: String {
        "this node's disk is full: \(refused); an operator must free space in the node's data directory"
    }
    public var description: String { "\(code): \(message)" }
}

extension SQLiteError {
    /// True when SQLite failed because the disk (or the owner's quota) is full.
    public var isStorageFull: Bool {
        primaryCode == SQLITE_FULL || systemErrno == ENOSPC || systemErrno == EDQUOT
    }
}

/// The one place a store's SQLite failure meets HTTP: a full disk is 507
/// (`InsufficientStorage`), anything else the router's generic, logged 500.
extension SQLiteError: HTTPResponseErrorConvertible {
    public var responseError: (any HTTPResponseError)? { isStorageFull ? InsufficientStorage() : nil }
}

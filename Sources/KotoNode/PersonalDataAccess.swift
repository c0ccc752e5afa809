public import Foundation
public import KotoCore
import Synchronization

/// One use or disclosure of personal data that Act 906/2019 §17 asks to be
/// logged: what was done (`action`), to which records (`kind`, `ids`), which
/// fields left or entered the node, on which route and why (`purpose`, from
/// the `X-Purpose` header). Identifiers and field names only — never a
/// field's value, so the access log itself holds no personal data.
public struct PersonalDataAccess: Sendable, Equatable {
    public enum Action: String, Sendable, CaseIterable {
        /// An answer carried personal fields (minimised views are not reads of personal data).
        case read
        /// A disclosure in bulk: CSV of a list, the Koto-digi export, a data subject's export.
        case export
        /// A create, update, delete, restore, conflict resolution or import.
        case write
        /// An erase (by an office or the retention job).
        case erase
    }

    public var action: Action
    public var kind: RecordKind
    public var ids: [UUID]
    /// The field names read or written (schema names, e.g. `givenName`), sorted.
    public var fields: [String]
    /// The method and route pattern, e.g. `GET /v1/clients/{id}`.
    public var route: String
    /// The caller's stated purpose (`X-Purpose`), if any.
    public var purpose: String?

    public init(action: Action, kind: RecordKind, ids: [UUID], fields: [String], route: String, purpose: String? = nil) {
        self.action = action
        self.kind = kind
        self.ids = ids
        self.fields = fields.sorted()
        self.route = route
        self.purpose = purpose
    }
}

/// Where the API records personal-data accesses. Recording fails closed: a
/// read or export is recorded before its answer leaves the node, and if
/// recording throws, the request fails and nothing is disclosed.
public protocol AccessRecorder: Sendable {
    func record(_ access: PersonalDataAccess, by caller: Caller) async throws
}

/// Keeps what it is given in memory, for tests that check what the API records.
public final class InMemoryAccessRecorder: AccessRecorder {
    private let entries = Mutex<[(PersonalDataAccess, Caller)]>([])

    public init() {}

    public func record(_ access: PersonalDataAccess, by caller: Caller) async throws {
        entries.withLock { $0.append((access, caller)) }
    }

    /// Everything recorded so far, oldest first.
    public var recorded: [(access: PersonalDataAccess, caller: Caller)] {
        entries.withLock { $0.map { (access: $0.0, caller: $0.1) } }
    }
}

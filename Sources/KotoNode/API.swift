import Foundation
import KotoCore
import KotoHTTP
import KotoStore

/// The node's HTTP API: records for offices, reads for the coordinator,
/// status for admins, sync for peers. Every endpoint but `/healthz` needs
/// a bearer token whose role opens it.
struct API: Sendable {
    let config: NodeConfig
    let replica: Replica
    let scheduler: SyncScheduler
    let secrets: Secrets
    /// The region's members: sync requests must come from one, with its own credential.
    let manifest: RegionManifest
    /// Where reads, exports, writes and erasures of personal data are recorded (Act 906/2019 §17).
    let access: any AccessRecorder
    /// The persistent access log the audit endpoints read (`Node` sets it; nil: they answer 503).
    var auditLog: AccessLog? = nil
    /// Queries go here when set (a read-only second connection), else to the writer.
    var reader: ReplicaReader? = nil

    /// Runs a merged-view query without waiting behind the writer.
    func read<T: Sendable>(_ body: @Sendable (MergedView) throws -> T) async throws -> T {
        if let reader { return try await reader.withView(body) }
        return try await replica.withStore { try body($0.view) }
    }

    func router() -> Router {
        var router = Router()
        router.unexpectedErrorReporter = { request, error in
            // Descriptions name records by kind and id, never by field values.
            Log.error("http.internal_error", ["method": request.method.rawValue, "path": request.path,
                                              "type": String(describing: type(of: error)), "error": String(describing: error)])
        }
        router.get("/healthz") { _ in APIResponse.json(.object([("status", .string("ok"))])) }
        registerPageRoutes(&router)
        for kind in RecordKind.allCases {
            let base = "/v1/\(kind.table)"
            router.post(base, endpoint([.office]) { request, caller in
                try await create(kind, request, context("POST", base, request, caller))
            })
            router.get(base, endpoint([.office, .coordinator]) { request, caller in
                try await list(kind, request, context("GET", base, request, caller))
            })
            router.get("\(base)/{id}", endpoint([.office, .coordinator]) { request, caller in
                try await show(kind, id: id(request), context("GET", "\(base)/{id}", request, caller))
            })
            router.patch("\(base)/{id}", endpoint([.office]) { request, caller in
                try await update(kind, request, context("PATCH", "\(base)/{id}", request, caller))
            })
            router.delete("\(base)/{id}", endpoint([.office]) { request, caller in
                try await simple(kind, request, .delete, status: .noContent, context("DELETE", "\(base)/{id}", request, caller))
            })
            router.post("\(base)/{id}/restore", endpoint([.office]) { request, caller in
                try await simple(kind, request, .restore, status: .ok, context("POST", "\(base)/{id}/restore", request, caller))
            })
            router.post("\(base)/{id}/erase", endpoint([.office]) { request, caller in
                try await simple(kind, request, .erase, status: .ok, context("POST", "\(base)/{id}/erase", request, caller))
            })
        }
        router.get("/v1/conflicts", endpoint([.office, .coordinator, .admin]) { request, caller in
            try await conflicts(request, context("GET", "/v1/conflicts", request, caller))
        })
        router.post("/v1/conflicts/{id}/resolve", endpoint([.office, .coordinator]) { request, caller in
            try await resolveConflict(request, context("POST", "/v1/conflicts/{id}/resolve", request, caller))
        })
        ServiceDirectory(registry: manifest.registry) { try await read { try $0.directoryServices(statuses: ServiceDirectory.listed) } }
            .register(in: &router)
        router.get("/v1/status", endpoint([.admin, .coordinator]) { _, _ in try await status() })
        registerReports(&router)
        registerAudit(&router)
        registerRetention(&router)
        registerPortability(&router)
        let sync = SyncAPI(config: config, replica: replica, scheduler: scheduler, manifest: manifest)
        router.post("/v1/sync/pull", endpoint([.peer]) { request, caller in try await sync.pull(request, caller: caller) })
        router.post("/v1/sync/push", endpoint([.peer]) { request, caller in try await sync.push(request, caller: caller) })
        router.post("/v1/sync/notify", endpoint([.peer]) { request, caller in try await sync.notify(request, caller: caller) })
        router.get("/v1/sync/state", endpoint([.peer]) { request, caller in try await sync.state(request, caller: caller) })
        router.get("/v1/sync/snapshot", endpoint([.peer]) { request, caller in try await sync.snapshot(request, caller: caller) })
        addMetrics(to: &router)
        return router
    }

    /// Authenticates (the credential's holder becomes the handler's
    /// `Caller`) and authorises by role; errors answer through the router.
    func endpoint(_ roles: Set<Role>, _ body: @escaping @Sendable (HTTPRequest, Caller) async throws -> HTTPResponse) -> Router.Handler {
        { [secrets] request in
            guard let caller = secrets.caller(forAuthorization: request.headers["Authorization"]) else {
                throw HTTPError(.unauthorized, code: "unauthorized", message: "a valid bearer token is required",
                                headers: ["WWW-Authenticate": "Bearer"])
            }
            guard roles.contains(caller.role) else {
                throw HTTPError.forbidden("the \(caller.role.rawValue) role may not use \(request.method.rawValue) \(request.path)")
            }
            return try await body(request, caller)
        }
    }

    /// The access-log context of one request on `method pattern`.
    func context(_ method: String, _ pattern: String, _ request: HTTPRequest, _ caller: Caller) throws -> AccessContext {
        try AccessContext(caller: caller, route: "\(method) \(pattern)", request: request, recorder: access)
    }

    // MARK: Records

    private func body(_ request: HTTPRequest) throws -> JSONValue {
        do {
            return try JSONValue.parse(request.body)
        } catch {
            throw HTTPError.badRequest("request body is not JSON: \(error.description)", code: "invalid_json")
        }
    }

    private func id(_ request: HTTPRequest) throws -> UUID {
        guard let text = request.pathParameters["id"], let id = UUID(uuidString: text) else {
            throw HTTPError.notFound("no such record", code: "not_found")
        }
        return id
    }

    /// The fields of a write, for the access log: every field of a create or an update, nothing of a delete or restore.
    private static func written(_ kind: RecordKind, _ fields: FieldMap) -> [String] {
        kind.fields.map(\.name).filter { fields[$0] != nil }
    }

    private func create(_ kind: RecordKind, _ request: HTTPRequest, _ context: AccessContext) async throws -> HTTPResponse {
        let json = try body(request)
        var (fields, problems) = RecordJSON.fields(from: json, kind: kind, ignoring: ["id"])
        var id = UUID()
        if let idValue = json["id"] {
            if let text = idValue.stringValue, let given = UUID(uuidString: text) {
                id = given
            } else {
                problems.append(FieldProblem(field: "id", reason: "must be a UUID"))
            }
        }
        if !problems.isEmpty {
            // Report what the store would refuse too, except for fields already reported.
            let reported = Set(problems.map(\.field))
            let valid = fields
            problems += try await replica.withStore { try $0.problems(creating: kind, fields: valid) }
                .filter { !reported.contains($0.field) }
            throw HTTPError.validationFailed(problems)
        }
        // What the store refuses is a 422 before the scope is asked: a placement of no client is invalid, not forbidden.
        let checked = fields
        try await replica.withStore { store in
            let problems = try store.problems(creating: kind, fields: checked)
            if !problems.isEmpty { throw HTTPError.validationFailed(problems) }
            try context.scope.checkWrite(kind, "create", stored: nil, creating: checked, in: store.view)
        }
        let change = try await replica.write(kind, id: id, .create(fields, id: id))
        Log.info("record.created", ["kind": kind.rawValue, "id": id.lowercased, "dot": change.dot.description])
        if kind != .service { try await context.record(.write, kind, ids: [id], fields: Self.written(kind, fields)) }
        let shown = try await read { [id] view in try view.record(kind, id: id).map { try context.scope.shown([$0], in: view)[0] } }
        if let shown { try await context.recordShown([shown]) }
        return APIResponse.json(shown?.json ?? .null, status: .created, headers: ["Location": "/v1/\(kind.table)/\(id.lowercased)"])
    }

    /// Refuses a write to the stored record outside the caller's scope; a record that does not exist is left to the store's 404.
    private func checkScope(_ kind: RecordKind, id: UUID, _ verb: String, _ context: AccessContext) async throws {
        try await replica.withStore { store in
            guard let stored = try store.record(kind, id: id) else { return }
            try context.scope.checkWrite(kind, verb, stored: stored, creating: nil, in: store.view)
        }
    }

    private func update(_ kind: RecordKind, _ request: HTTPRequest, _ context: AccessContext) async throws -> HTTPResponse {
        let id = try id(request)
        let (fields, problems) = RecordJSON.fields(from: try body(request), kind: kind)
        if !problems.isEmpty {
            let reported = Set(problems.map(\.field))
            let more = try await replica.withStore { try $0.problems(updating: kind, id: id, fields: fields) }
            throw HTTPError.validationFailed(problems + more.filter { !reported.contains($0.field) })
        }
        guard !fields.isEmpty else {
            throw HTTPError.validationFailed([FieldProblem(field: "(body)", reason: "names no field to update")])
        }
        try await checkScope(kind, id: id, "update", context)
        let change = try await replica.write(kind, id: id, .update(fields))
        Log.info("record.updated", ["kind": kind.rawValue, "id": id.lowercased, "dot": change.dot.description,
                                    "fields": fields.keys.sorted().joined(separator: ",")])
        if kind != .service { try await context.record(.write, kind, ids: [id], fields: Self.written(kind, fields)) }
        return try await show(kind, id: id, context)
    }

    private func simple(_ kind: RecordKind, _ request: HTTPRequest, _ write: Replica.Write, status: HTTPStatus,
                        _ context: AccessContext) async throws -> HTTPResponse {
        let id = try id(request)
        let verb = switch write {
        case .erase: "erase"
        case .delete: "delete"
        default: "restore"
        }
        try await checkScope(kind, id: id, verb, context)
        let change = try await replica.write(kind, id: id, write)
        Log.info("record.\(change.kind == .erase ? "erased" : (change.kind == .delete ? "deleted" : "restored"))",
                 ["kind": kind.rawValue, "id": id.lowercased, "dot": change.dot.description])
        if kind != .service {
            try await context.record(change.kind == .erase ? .erase : .write, kind, ids: [id],
                                     fields: change.kind == .erase ? kind.fields.filter(\.personal).map(\.name) : [deletedFieldName])
        }
        if status == .noContent { return HTTPResponse(status: .noContent) }
        return try await show(kind, id: id, context)
    }

    /// One record as the caller may see it, with its open conflicts on the fields shown.
    func show(_ kind: RecordKind, id: UUID, _ context: AccessContext) async throws -> HTTPResponse {
        let found = try await read { view -> (ShownRecord, [OpenConflict])? in
            guard let record = try view.record(kind, id: id) else { return nil }
            return (try context.scope.shown([record], in: view)[0], try view.openConflicts(kind, rowID: id))
        }
        guard let (shown, conflicts) = found else { throw HTTPError.notFound("no \(kind.rawValue) \(id.lowercased)", code: "not_found") }
        try await context.recordShown([shown])
        return APIResponse.json(shown.json(conflicts: conflicts))
    }

    private func list(_ kind: RecordKind, _ request: HTTPRequest, _ context: AccessContext) async throws -> HTTPResponse {
        var query = RecordQuery()
        var problems: [FieldProblem] = []
        var problemsFound: [FieldProblem] = []
        let validator = RecordValidator(registry: manifest.registry)
        for item in request.queryItems {
            let name = item.name, value = item.value
            switch name {
            case "limit":
                guard let limit = Int(value), (1...1000).contains(limit) else {
                    problems.append(FieldProblem(field: "limit", reason: "must be an integer from 1 to 1000"))
                    continue
                }
                query.limit = limit
            case "after":
                guard UUID(uuidString: value) != nil else {
                    problems.append(FieldProblem(field: "after", reason: "must be a record id"))
                    continue
                }
                query.afterID = value.lowercased()
            case "format", "lang": continue  // checked by ListExport
            case "purpose": continue  // checked by AccessPurpose
            case "includeDeleted", "includeErased", "conflicted":
                guard value == "true" || value == "false" else {
                    problems.append(FieldProblem(field: name, reason: "must be true or false"))
                    continue
                }
                switch name {
                case "includeDeleted": query.includeDeleted = value == "true"
                case "includeErased": query.includeErased = value == "true"
                default: query.onlyConflicted = value == "true"
                }
            default:
                guard let spec = kind.field(named: name) else {
                    problems.append(FieldProblem(field: name, reason: "is not a filter of \(kind.table)"))
                    continue
                }
                switch spec.type {
                case .municipalityCodes, .languageCodes:
                    // One element the list must contain, checked as a list of one.
                    let elementProblems = validator.check(.text(value), against: spec)
                    guard elementProblems.isEmpty else {
                        problemsFound += elementProblems
                        continue
                    }
                    query.contains[name] = value
                default:
                    switch spec.type.storage {
                    case .text: query.equals[name] = .text(spec.type == .uuid ? value.lowercased() : value)
                    case .integer:
                        guard let number = Int64(value) else {
                            problems.append(FieldProblem(field: name, reason: "must be an integer"))
                            continue
                        }
                        query.equals[name] = .integer(number)
                    case .bool:
                        guard value == "true" || value == "false" else {
                            problems.append(FieldProblem(field: name, reason: "must be true or false"))
                            continue
                        }
                        query.equals[name] = .bool(value == "true")
                    }
                }
            }
        }
        // A filter value no record can hold (an impossible enum value, a malformed date or id) is an error, not an empty list.
        for (name, value) in query.equals.sorted(by: { $0.key < $1.key }) where !problems.contains(where: { $0.field == name }) {
            guard let spec = kind.field(named: name) else { continue }
            problemsFound += validator.check(value, against: spec)
        }
        problems += problemsFound + ListExport.problems(in: request)
        if !problems.isEmpty {
            throw HTTPError.invalidQuery(problems)
        }
        try context.scope.restrict(&query, kind: kind)
        if ListExport.wantsCSV(request) { return try await exportCSV(kind, query, request, context) }
        let limit = query.limit
        query.limit = limit + 1
        let (shown, more) = try await read { [query] view in
            let records = try view.list(kind, query)
            return (try context.scope.shown(Array(records.prefix(limit)), in: view), records.count > limit)
        }
        try await context.recordShown(shown)
        var members: [(String, JSONValue)] = [("items", .array(shown.map(\.json)))]
        members.append(("next", more ? .string(shown.last!.record.id.lowercased) : .null))
        return APIResponse.json(.object(members))
    }

    private func conflicts(_ request: HTTPRequest, _ context: AccessContext) async throws -> HTTPResponse {
        var kind: RecordKind?
        if let table = request.query("kind") {
            guard let found = RecordKind(table: table) ?? RecordKind(rawValue: table) else {
                throw HTTPError.invalidQuery([FieldProblem(field: "kind", reason: "unknown record kind")],
                                             message: "kind must be services, clients or placements")
            }
            kind = found
        }
        let problems = ListExport.problems(in: request)
        if !problems.isEmpty { throw HTTPError.invalidQuery(problems) }
        let shown = try await read { [kind] view in
            var cache: [UUID: Set<String>?] = [:]
            return try view.openConflicts(kind).map { ($0, try !context.scope.seesValue(of: $0, in: view, cache: &cache)) }
        }
        // The values of clients' personal fields shown are a read (an export, as CSV) of those clients' data.
        let personal = shown.filter { !$0.1 && $0.0.record == .client && RecordKind.client.field(named: $0.0.field)?.personal == true }
        var fieldsByClient: [UUID: Set<String>] = [:]
        for (conflict, _) in personal { fieldsByClient[conflict.rowID, default: []].insert(conflict.field) }
        var groups: [[String]: [UUID]] = [:]
        for (id, fields) in fieldsByClient.sorted(by: { $0.key.uuidString < $1.key.uuidString }) { groups[fields.sorted(), default: []].append(id) }
        let csv = ListExport.wantsCSV(request)
        for (fields, ids) in groups.sorted(by: { $0.key.joined(separator: ",") < $1.key.joined(separator: ",") }) {
            try await context.record(csv ? .export : .read, .client, ids: ids, fields: fields)
        }
        if csv { return ListExport.conflictsCSV(shown, request) }
        return APIResponse.json(.object([("items", .array(shown.map { APIResponse.conflict($0.0, withheld: $0.1) }))]))
    }

    // MARK: Status

    func status() async throws -> HTTPResponse {
        let (vector, logPosition, seq, incarnation, conflictCount, digest, provisional, ownFork) = try await replica.withStore { store in
            (store.versionVector, store.logPosition, store.seq, store.incarnation, try store.openConflictCount(),
             store.stateDigest, store.stateDigestProvisional, store.ownFork)
        }
        let (logEntries, logFloor) = try await replica.logFigures()
        let catchingUp = await replica.pendingCatchUp
        let pendingPeers = await replica.pendingPeers
        let acceptsWrites = await replica.acceptsWrites
        let forks = await replica.peerForks
        let skew = await replica.clockSkew
        let stampsAhead = await replica.stampsAhead
        let clockOffsets = await replica.peerClockOffsets
        let peers = await scheduler.peerStatuses()
        var peerItems: [JSONValue] = []
        for peer in peers {
            // A fork seen on either side shows, even on a passive link.
            let fork = forks[peer.node]
            let state = peer.shownState(fork: fork)
            let detail = fork != nil && peer.state != .forked ? "fork at \(fork!): the peer holds another change under it" : peer.detail
            let lastError: String? = state == .ok ? nil : (detail ?? peer.cursor?.lastError)
            let url: JSONValue = peer.url.map { .string($0) } ?? .null
            let members: [(String, JSONValue)] = [
                ("node", .string(peer.node)),
                ("url", url),
                ("mode", .string(peer.mode.rawValue)),
                ("state", .string(state.rawValue)),
                ("lastSuccess", APIResponse.timestamp(peer.cursor?.lastSuccessMillis)),
                ("lastError", lastError.map { .string($0) } ?? .null),
                ("consecutiveFailures", .number(Double(peer.cursor?.consecutiveFailures ?? 0))),
                ("lag", .number(Double(peer.cursor?.lag ?? 0))),
                ("fork", fork.map(APIResponse.dot) ?? .null),
                ("diverged", .bool(state == .diverged)),
                // The peer's wall clock minus this node's at the last exchange: a peer far ahead has its batches refused.
                ("clockOffsetSeconds", clockOffsets[peer.node].map { .number(Double($0) / 1000) } ?? .null),
            ]
            peerItems.append(.object(members))
        }
        // A target seq while pulling back its own changes; true while waiting for peers to answer after a restore.
        let catchingUpValue: JSONValue = catchingUp.map { .number(Double($0)) } ?? .bool(!pendingPeers.isEmpty)
        let skewValue: JSONValue = skew.map {
            .object([("offsetSeconds", .number(Double($0.aheadMillis) / 1000)), ("peers", .number(Double($0.peers)))])
        } ?? .null
        let members: [(String, JSONValue)] = [
            ("node", .string(config.node)),
            ("versionVector", SyncProtocol.json(vector)),
            ("logPosition", .number(Double(logPosition))),
            ("logEntries", .number(Double(logEntries))),
            ("logFloor", SyncProtocol.json(logFloor)),
            ("seq", .number(Double(seq))),
            ("incarnation", .string(incarnation)),
            ("schemaVersion", .number(Double(config.advertisedSchemaVersion))),
            ("protocolVersion", .number(Double(SyncProtocol.version))),
            ("conflicts", .number(Double(conflictCount))),
            ("catchingUp", catchingUpValue),
            ("waitingForPeers", .array(pendingPeers.sorted().map { .string($0) })),
            ("acceptingWrites", .bool(acceptsWrites)),
            ("stateDigest", .string(digest.hex)),
            ("stateDigestProvisional", .bool(provisional)),
            ("ownFork", ownFork.map { .string($0) } ?? .null),
            ("clockSkew", skewValue),
            ("stampsAheadSeconds", stampsAhead.map { .number(Double($0.aheadMillis) / 1000) } ?? .null),
            ("snapshot", await scheduler.bootstrap.status.json),
            ("peers", .array(peerItems)),
        ]
        return APIResponse.json(.object(members))
    }
}

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
            router.post(base, endpoint([.office]) { request, _ in try await create(kind, request) })
            router.get(base, endpoint([.office, .coordinator]) { request, _ in try await list(kind, request) })
            router.get("\(base)/{id}", endpoint([.office, .coordinator]) { request, _ in try await show(kind, request) })
            router.patch("\(base)/{id}", endpoint([.office]) { request, _ in try await update(kind, request) })
            router.delete("\(base)/{id}", endpoint([.office]) { request, _ in
                try await simple(kind, request, .delete, status: .noContent)
            })
            router.post("\(base)/{id}/restore", endpoint([.office]) { request, _ in
                try await simple(kind, request, .restore, status: .ok)
            })
            router.post("\(base)/{id}/erase", endpoint([.office]) { request, _ in try await simple(kind, request, .erase, status: .ok) })
        }
        router.get("/v1/conflicts", endpoint([.office, .coordinator, .admin]) { request, _ in try await conflicts(request) })
        router.post("/v1/conflicts/{id}/resolve", endpoint([.office, .coordinator]) { try await resolveConflict($0, caller: $1) })
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

    private func create(_ kind: RecordKind, _ request: HTTPRequest) async throws -> HTTPResponse {
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
        let change = try await replica.write(kind, id: id, .create(fields, id: id))
        scheduler.localChange()
        Log.info("record.created", ["kind": kind.rawValue, "id": id.lowercased, "dot": change.dot.description])
        let record = try await read { [id] in try $0.record(kind, id: id) }
        return APIResponse.json(record.map { APIResponse.record($0) } ?? .null, status: .created,
                                headers: ["Location": "/v1/\(kind.table)/\(id.lowercased)"])
    }

    private func update(_ kind: RecordKind, _ request: HTTPRequest) async throws -> HTTPResponse {
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
        let change = try await replica.write(kind, id: id, .update(fields))
        scheduler.localChange()
        Log.info("record.updated", ["kind": kind.rawValue, "id": id.lowercased, "dot": change.dot.description,
                                    "fields": fields.keys.sorted().joined(separator: ",")])
        return try await show(kind, id: id)
    }

    private func simple(_ kind: RecordKind, _ request: HTTPRequest, _ write: Replica.Write, status: HTTPStatus) async throws -> HTTPResponse {
        let id = try id(request)
        let change = try await replica.write(kind, id: id, write)
        scheduler.localChange()
        Log.info("record.\(change.kind == .erase ? "erased" : (change.kind == .delete ? "deleted" : "restored"))",
                 ["kind": kind.rawValue, "id": id.lowercased, "dot": change.dot.description])
        if status == .noContent { return HTTPResponse(status: .noContent) }
        return try await show(kind, id: id)
    }

    private func show(_ kind: RecordKind, _ request: HTTPRequest) async throws -> HTTPResponse {
        try await show(kind, id: id(request))
    }

    func show(_ kind: RecordKind, id: UUID) async throws -> HTTPResponse {
        let found = try await read { store -> (StoredRecord, [OpenConflict])? in
            guard let record = try store.record(kind, id: id) else { return nil }
            return (record, try store.openConflicts(kind, rowID: id))
        }
        guard let (record, conflicts) = found else { throw HTTPError.notFound("no \(kind.rawValue) \(id.lowercased)", code: "not_found") }
        return APIResponse.json(APIResponse.record(record, conflicts: conflicts))
    }

    private func list(_ kind: RecordKind, _ request: HTTPRequest) async throws -> HTTPResponse {
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
        if ListExport.wantsCSV(request) { return try await exportCSV(kind, query, request) }
        let limit = query.limit
        query.limit = limit + 1
        let records = try await read { [query] in try $0.list(kind, query) }
        let page = Array(records.prefix(limit))
        var members: [(String, JSONValue)] = [("items", .array(page.map { APIResponse.record($0) }))]
        members.append(("next", records.count > limit ? .string(page.last!.id.lowercased) : .null))
        return APIResponse.json(.object(members))
    }

    private func conflicts(_ request: HTTPRequest) async throws -> HTTPResponse {
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
        let conflicts = try await read { [kind] in try $0.openConflicts(kind) }
        if ListExport.wantsCSV(request) { return ListExport.conflictsCSV(conflicts, request) }
        return APIResponse.json(.object([("items", .array(conflicts.map(APIResponse.conflict)))]))
    }

    // MARK: Status

    func status() async throws -> HTTPResponse {
        let (vector, logPosition, seq, incarnation, conflictCount, digest, provisional, ownFork) = try await replica.withStore { store in
            (store.versionVector, store.logPosition, store.seq, store.incarnation, try store.openConflictCount(),
             store.stateDigest, store.stateDigestProvisional, store.ownFork)
        }
        let catchingUp = await replica.pendingCatchUp
        let pendingPeers = await replica.pendingPeers
        let acceptsWrites = await replica.acceptsWrites
        let forks = await replica.peerForks
        let skew = await replica.clockSkew
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
            ("peers", .array(peerItems)),
        ]
        return APIResponse.json(.object(members))
    }
}

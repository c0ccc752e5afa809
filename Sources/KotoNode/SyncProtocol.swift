public import KotoCore

/// The messages of the sync protocol (see design/replication.md). Batches
/// travel in the binary wire format; the small metadata around them as JSON.
public enum SyncProtocol {
    /// Bumped when the message shapes change; peers with another version are refused (409).
    /// 3: batches in wire format 3 (origin table, field indexes, seq and HLC steps).
    public static let version = 3
    public static let batchContentType = "application/x-kotosync-batch"

    /// Headers carried with batches.
    public enum Header {
        public static let node = "Kotosync-Node"
        public static let protocolVersion = "Kotosync-Protocol"
        public static let schemaVersion = "Kotosync-Schema"
        /// The sender's log end, so the receiver can show lag.
        public static let logPosition = "Kotosync-Log-Position"
        /// On a pull answer: how many of the puller's own changes the peer
        /// holds, so a node restored from a backup learns it is behind.
        public static let yourSeq = "Kotosync-Your-Seq"
    }

    public static func json(_ vector: VersionVector) -> JSONValue {
        .object(vector.sorted.map { ($0.origin, .number(Double($0.seq))) })
    }

    public static func versionVector(_ json: JSONValue?) -> VersionVector? {
        guard let members = json?.objectMembers else { return nil }
        var entries: [String: UInt64] = [:]
        for (origin, value) in members {
            guard NodeID.isValid(origin), let seq = value.int64Value, seq >= 0 else { return nil }
            entries[origin] = UInt64(seq)
        }
        return VersionVector(entries)
    }

    /// `{origin: {"seq": n, "hash": "<64 hex>"}}`.
    public static func json(_ heads: [String: ChainHead]) -> JSONValue {
        .object(heads.sorted { $0.key < $1.key }.map { origin, head in
            (origin, .object([("seq", .number(Double(head.seq))), ("hash", .string(hexString(head.hash)))]))
        })
    }

    /// Strict: every origin a valid node id, every seq a positive integer, every hash 64 hex digits.
    public static func heads(_ json: JSONValue?) -> [String: ChainHead]? {
        guard let members = json?.objectMembers else { return nil }
        var heads: [String: ChainHead] = [:]
        for (origin, value) in members {
            guard NodeID.isValid(origin), heads[origin] == nil, let fields = value.objectMembers, fields.count == 2,
                  let seq = value["seq"]?.int64Value, seq > 0, let hex = value["hash"]?.stringValue, hex.utf8.count == 64,
                  let hash = bytes(fromHex: hex), hash.count == 32 else { return nil }
            heads[origin] = ChainHead(seq: UInt64(seq), hash: hash)
        }
        return heads
    }

    /// Unix milliseconds: a non-negative integer.
    public static func clock(_ json: JSONValue?) -> UInt64? {
        guard let value = json?.int64Value, value >= 0 else { return nil }
        return UInt64(value)
    }
}

/// `POST /v1/sync/pull`: what the puller holds and where it stopped in the peer's log.
public struct PullRequest: Sendable, Equatable {
    public var node: String
    public var protocolVersion: Int
    public var schemaVersion: Int
    public var versionVector: VersionVector
    public var since: UInt64
    public var limit: Int
    /// The puller's chain head per origin it holds, so the peer sees a fork.
    public var heads: [String: ChainHead]
    /// The puller's wall clock (Unix ms) when it sent the request.
    public var clock: UInt64

    public init(node: String, protocolVersion: Int, schemaVersion: Int, versionVector: VersionVector, since: UInt64, limit: Int,
                heads: [String: ChainHead] = [:], clock: UInt64 = 0) {
        self.node = node
        self.protocolVersion = protocolVersion
        self.schemaVersion = schemaVersion
        self.versionVector = versionVector
        self.since = since
        self.limit = limit
        self.heads = heads
        self.clock = clock
    }

    public var json: JSONValue {
        .object([
            ("node", .string(node)), ("protocol", .number(Double(protocolVersion))), ("schema", .number(Double(schemaVersion))),
            ("versionVector", SyncProtocol.json(versionVector)), ("since", .number(Double(since))), ("limit", .number(Double(limit))),
            ("heads", SyncProtocol.json(heads)), ("clock", .number(Double(clock))),
        ])
    }

    /// Nil names the member that is missing or malformed.
    public static func parse(_ json: JSONValue) -> Result<PullRequest, FieldProblem> {
        guard let node = json["node"]?.stringValue, NodeID.isValid(node) else {
            return .failure(FieldProblem(field: "node", reason: "must be a valid node id"))
        }
        guard let protocolVersion = json["protocol"]?.int64Value else {
            return .failure(FieldProblem(field: "protocol", reason: "must be an integer"))
        }
        guard let schemaVersion = json["schema"]?.int64Value else {
            return .failure(FieldProblem(field: "schema", reason: "must be an integer"))
        }
        guard let vector = SyncProtocol.versionVector(json["versionVector"]) else {
            return .failure(FieldProblem(field: "versionVector", reason: "must map node ids to non-negative integers"))
        }
        guard let since = json["since"]?.int64Value, since >= 0 else {
            return .failure(FieldProblem(field: "since", reason: "must be a non-negative integer"))
        }
        guard let limit = json["limit"]?.int64Value, (1...100_000).contains(limit) else {
            return .failure(FieldProblem(field: "limit", reason: "must be an integer from 1 to 100000"))
        }
        guard let heads = SyncProtocol.heads(json["heads"]) else {
            return .failure(FieldProblem(field: "heads", reason: "must map node ids to {\"seq\": positive integer, \"hash\": 64 hex digits}"))
        }
        guard let clock = SyncProtocol.clock(json["clock"]) else {
            return .failure(FieldProblem(field: "clock", reason: "must be the puller's wall clock in Unix milliseconds"))
        }
        return .success(PullRequest(node: node, protocolVersion: Int(protocolVersion), schemaVersion: Int(schemaVersion),
                                    versionVector: vector, since: UInt64(since), limit: Int(limit), heads: heads, clock: clock))
    }
}

/// `GET /v1/sync/state`: a node's replica as peers need to know it, and its
/// cursor in the asking node's log (push senders start from there).
public struct PeerState: Sendable, Equatable {
    public var node: String
    public var protocolVersion: Int
    public var schemaVersion: Int
    public var versionVector: VersionVector
    public var logPosition: UInt64
    public var incarnation: String
    /// This node's position in the asker's log, and the incarnation it belongs to.
    public var cursorPosition: UInt64
    public var cursorIncarnation: String?
    /// The node's chain heads (so a pusher sees a fork) and its wall clock (Unix ms).
    public var heads: [String: ChainHead] = [:]
    public var clock: UInt64 = 0

    public var json: JSONValue {
        .object([
            ("node", .string(node)), ("protocol", .number(Double(protocolVersion))), ("schema", .number(Double(schemaVersion))),
            ("versionVector", SyncProtocol.json(versionVector)), ("logPosition", .number(Double(logPosition))),
            ("incarnation", .string(incarnation)),
            ("cursor", .object([("position", .number(Double(cursorPosition))),
                                ("incarnation", cursorIncarnation.map(JSONValue.string) ?? .null)])),
            ("heads", SyncProtocol.json(heads)), ("clock", .number(Double(clock))),
        ])
    }

    public static func parse(_ json: JSONValue) -> PeerState? {
        guard let node = json["node"]?.stringValue, let protocolVersion = json["protocol"]?.int64Value,
              let schemaVersion = json["schema"]?.int64Value, let vector = SyncProtocol.versionVector(json["versionVector"]),
              let logPosition = json["logPosition"]?.int64Value, logPosition >= 0, let incarnation = json["incarnation"]?.stringValue,
              let cursor = json["cursor"], let position = cursor["position"]?.int64Value, position >= 0,
              let heads = SyncProtocol.heads(json["heads"]), let clock = SyncProtocol.clock(json["clock"]) else { return nil }
        return PeerState(node: node, protocolVersion: Int(protocolVersion), schemaVersion: Int(schemaVersion), versionVector: vector,
                         logPosition: UInt64(logPosition), incarnation: incarnation, cursorPosition: UInt64(position),
                         cursorIncarnation: cursor["incarnation"]?.stringValue, heads: heads, clock: clock)
    }
}

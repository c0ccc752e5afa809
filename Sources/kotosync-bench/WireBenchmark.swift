import Foundation
import KotoCore
import KotoCrypto
import KotoNode
import KotoStore

// `kotosync-bench wire`: bytes on the wire per change against the change's
// fields as JSON. Realistic changes are written through a real ReplicaStore
// (signed chains, row clocks), read back as a pull would (`readLog`), and
// encoded with the real wire format (`WireFormat.encode`, a whole batch with
// its header and heads). The JSON is the change's written fields as an object
// (`{"status":"active"}` for a one-field update; every field of the record,
// nulls included, for a create, as the store writes it), compact.
// Also prints where the bytes go, per change.

struct WireOptions {
    var changes = 1_000
    var group = 32

    static func parse(_ arguments: [String]) -> WireOptions {
        var options = WireOptions()
        var reader = BenchArguments(arguments)
        while let flag = reader.next() {
            switch flag {
            case "--changes": options.changes = positive(reader.value(), "--changes")
            case "--group": options.group = positive(reader.value(), "--group")
            case "-h", "--help":
                print("""
                usage: kotosync-bench wire [--changes N] [--group N]
                Writes N changes (default 1000) of each workload through a ReplicaStore, reads them back as one pull
                batch and prints the batch's wire bytes per change against the changes' fields as JSON: client creates,
                service creates, one-field updates, and the load mix (half creates, half updates), each with one write
                per transaction (signed each, as API writes are without group commit) and with --group writes per
                transaction (default 32, one signature per group). Then where a change's bytes go.
                """)
                exit(0)
            default: fail("unknown argument \(flag) (see kotosync-bench wire --help)")
            }
        }
        return options
    }
}

/// One workload's batch and its JSON.
struct WireMeasure {
    let name: String
    let changes: Int
    let wireBytes: Int
    let jsonBytes: Int
    let batch: ChangeBatch

    var ratio: Double { Double(wireBytes) / Double(jsonBytes) }
    var perChange: Double { Double(wireBytes) / Double(changes) }
    var jsonPerChange: Double { Double(jsonBytes) / Double(changes) }
}

/// A change's written fields as a compact JSON object, in schema order.
func fieldsJSON(_ change: Change) -> Int {
    let members: [(String, JSONValue)] = change.record.fields.compactMap { spec in
        guard let value = change.fields[spec.name] else { return nil }
        switch value {
        case .null: return (spec.name, .null)
        case .text(let text): return (spec.name, .string(text))
        case .integer(let number): return (spec.name, .number(Double(number)))
        case .bool(let flag): return (spec.name, .bool(flag))
        }
    }
    return JSONValue.object(members).serializedBytes.count
}

enum WireWorkload: CaseIterable {
    case clientCreates, serviceCreates, updates, mix

    var label: String {
        switch self {
        case .clientCreates: "client creates"
        case .serviceCreates: "service creates"
        case .updates: "one-field updates (status)"
        case .mix: "mix: half client creates, half one-field updates"
        }
    }
}

func measureWire(_ workload: WireWorkload, changes: Int, group: Int, directory: URL, identity: StoreIdentity) throws -> WireMeasure {
    var options = StoreOptions()
    options.synchronous = .off
    let path = directory.appendingPathComponent("wire-\(UUID().uuidString).sqlite").path
    defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
    let store = try ReplicaStore(path: path, nodeID: "jakobstad", identity: identity, options: options)
    let clients = generateClients(count: changes)
    let statuses = ClientStatus.allCases.map(\.rawValue)
    // Updates need rows to update: created before the measured part.
    var existing: [UUID] = []
    if workload == .updates || workload == .mix {
        try store.batch { for (id, fields) in clients.prefix(workload == .mix ? changes / 2 : changes) { try store.create(.client, id: id, fields: fields) } }
        existing = clients.prefix(workload == .mix ? changes / 2 : changes).map(\.0)
    }
    let before = store.versionVector
    let start = store.logPosition
    var written = 0
    func writeOne(_ index: Int) throws {
        switch workload {
        case .clientCreates:
            try store.create(.client, id: clients[index].0, fields: clients[index].1)
        case .serviceCreates:
            var fields: FieldMap = [
                "nameFi": .text("Kotoutumiskoulutus \(index)"), "nameSv": .text("Integrationsutbildning \(index)"),
                "providerName": .text("Testiopisto"), "providerType": .text("adult_education"), "category": .text("language_course"),
                "municipalities": .text("598,599"), "studyPath": .text("basic"), "status": .text("active"),
            ]
            fields["capacity"] = .integer(Int64(10 + index % 30))
            try store.create(.service, fields: fields)
        case .updates:
            try store.update(.client, id: existing[index], fields: ["status": .text(statuses[index % statuses.count])])
        case .mix:
            if index % 2 == 0 {
                let (id, fields) = clients[changes / 2 + index / 2]
                try store.create(.client, id: id, fields: fields)
            } else {
                try store.update(.client, id: existing[index / 2], fields: ["status": .text(statuses[index % statuses.count])])
            }
        }
    }
    while written < changes {
        let count = min(group, changes - written)
        if count == 1 {
            try writeOne(written)
        } else {
            try store.batch { for offset in 0..<count { try writeOne(written + offset) } }
        }
        written += count
    }
    let read = try store.readLog(after: start, notCoveredBy: before, limit: changes)
    precondition(read.changes.count == changes, "the pull batch must hold every measured change")
    // As a pull answer carries it: the sender's heads, clock and digest.
    let batch = ChangeBatch(incarnation: store.incarnation, nextPosition: read.nextPosition, changes: read.changes,
                            heads: store.chainHeads, senderClockMillis: UInt64(Date().timeIntervalSince1970 * 1000),
                            stateDigest: store.stateDigest)
    let wire = WireFormat.encode(batch)
    precondition((try? WireFormat.decode(wire)) == batch, "the batch must decode to itself")
    return WireMeasure(name: workload.label + (group == 1 ? ", one write per transaction" : ", \(group) writes per transaction"),
                       changes: changes, wireBytes: wire.count, jsonBytes: batch.changes.reduce(0) { $0 + fieldsJSON($1) }, batch: batch)
}

func varintLength(_ value: UInt64) -> Int {
    var value = value, length = 1
    while value >= 0x80 { value >>= 7; length += 1 }
    return length
}

/// What each part of a change costs in format 2's layout (names and node ids as strings), per change:
/// what format 3's indexes and steps save is read against it.
struct WireBreakdown {
    var identity = 0.0, names = 0.0, values = 0.0, clocks = 0.0, ownClock = 0.0, links = 0.0, signatures = 0.0, header = 0.0
    var originStrings = 0.0, hlc = 0.0

    init(_ measure: WireMeasure) {
        let batch = measure.batch
        let count = Double(batch.changes.count)
        var body = 0
        for change in batch.changes {
            let origin = change.dot.origin.utf8.count + 1
            let hlcBytes = varintLength(change.hlc.rawValue)
            let ident = origin + varintLength(change.dot.seq) + hlcBytes + 1 + 16 + 1 + 1
            identity += Double(ident)
            originStrings += Double(origin)
            hlc += Double(hlcBytes)
            var nameBytes = 0, valueBytes = 0
            for (name, value) in change.fields {
                nameBytes += name.utf8.count + 1
                switch value {
                case .null, .bool: valueBytes += 1
                case .text(let text): valueBytes += 1 + varintLength(UInt64(text.utf8.count)) + text.utf8.count
                case .integer(let number): valueBytes += 1 + varintLength(UInt64(bitPattern: (number << 1) ^ (number >> 63)))
                }
            }
            names += Double(nameBytes)
            values += Double(valueBytes + varintLength(UInt64(change.fields.count)) + (change.isPurged ? 32 : 0))
            let clockBytes = WireFormat.encodeClock(change.rowClock).count
            clocks += Double(clockBytes)
            ownClock += Double(change.dot.origin.utf8.count + 1 + varintLength(change.dot.seq))
            links += 32
            signatures += change.signature == nil ? 0 : 64
            body += ident + nameBytes + valueBytes + varintLength(UInt64(change.fields.count)) + clockBytes + 32 + (change.signature == nil ? 0 : 64)
        }
        header = Double(measure.wireBytes - body)
        for keyPath in [\WireBreakdown.identity, \.names, \.values, \.clocks, \.ownClock, \.links, \.signatures, \.header, \.originStrings, \.hlc] {
            self[keyPath: keyPath] /= count
        }
    }
}

func wireMeasures(_ options: WireOptions) throws -> [WireMeasure] {
    let key = try SigningKey.generate()
    let identity = StoreIdentity(signingKey: key, region: RegionKeys(["jakobstad": [key.publicKey]]))
    let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("kotosync-wire-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    var results: [WireMeasure] = []
    for workload in WireWorkload.allCases {
        for group in [1, options.group] {
            results.append(try measureWire(workload, changes: options.changes, group: group, directory: directory, identity: identity))
        }
    }
    return results
}

func printWireTable(_ results: [WireMeasure]) {
    print("")
    print("| workload (\(results.first?.changes ?? 0) changes, one pull batch) | wire bytes/change | fields as JSON bytes/change | ratio (target ≤ 1.2) |")
    print("|---|---:|---:|---:|")
    for result in results {
        print(String(format: "| %@ | %.1f | %.1f | %.2f |", result.name, result.perChange, result.jsonPerChange, result.ratio))
    }
    print("")
    print("what each part of a change costs in format 2's layout (names and node ids spelt out), per change:")
    print("| workload | identity (origin, seq, HLC, record, row id, kind, flags) | of which origin string / HLC | field names | values | row clock (own entry) | chain link | signature |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for result in results {
        let b = WireBreakdown(result)
        print(String(format: "| %@ | %.1f | %.1f / %.1f | %.1f | %.1f | %.1f (%.1f) | %.0f | %.1f |", result.name, b.identity,
                     b.originStrings, b.hlc, b.names, b.values, b.clocks, b.ownClock, b.links, b.signatures))
    }
}

/// An idle pull's two messages when the region has `nodes` origins: the pull
/// request (JSON: version vector and chain heads of every origin) and the
/// empty answer (a batch with every origin's chain head), encoded by the real
/// encoders; HTTP headers not counted.
func idlePullBytes(nodes: Int) -> (request: Int, answer: Int) {
    let origins = (0..<nodes).map { String(format: "n%03d", $0) }
    let vector = VersionVector(Dictionary(uniqueKeysWithValues: origins.enumerated().map { ($0.element, UInt64(10_000 + $0.offset)) }))
    let heads = Dictionary(uniqueKeysWithValues: origins.enumerated().map { index, origin in
        (origin, ChainHead(seq: UInt64(10_000 + index), hash: (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index) }))
    })
    let clock = UInt64(Date().timeIntervalSince1970 * 1000)
    let request = PullRequest(node: origins[0], protocolVersion: SyncProtocol.version, schemaVersion: ReplicaStore.schemaVersion,
                              versionVector: vector, since: 123_456, limit: 1000, heads: heads, clock: clock)
    let answer = ChangeBatch(incarnation: UUID().uuidString.lowercased(), nextPosition: 123_456, changes: [], heads: heads,
                             senderClockMillis: clock, stateDigest: StateDigest(bytes: [UInt8](repeating: 7, count: 32)))
    return (request.json.serializedBytes.count, WireFormat.encode(answer).count)
}

func printIdlePullTable() {
    print("")
    print("an idle pull's bodies by region size (every origin in the version vector and heads; HTTP headers not counted):")
    print("| origins | pull request (JSON) | empty answer (batch) | per origin |")
    print("|---:|---:|---:|---:|")
    for nodes in [5, 10, 25, 50, 100, 300] {
        let (request, answer) = idlePullBytes(nodes: nodes)
        print(String(format: "| %d | %d B | %d B | %.0f B |", nodes, request, answer, Double(request + answer) / Double(nodes)))
    }
}

func runWireBenchmark(_ arguments: [String]) {
    let options = WireOptions.parse(arguments)
    print("kotosync-bench wire: \(options.changes) changes per workload, groups of \(options.group)")
    print("machine: \(machine())")
    do {
        printWireTable(try wireMeasures(options))
        printIdlePullTable()
    } catch {
        fail("\(error)")
    }
}

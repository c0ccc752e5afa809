import Foundation
import KotoCore
import KotoCrypto
import Testing
@testable import KotoStore

/// Everything observable about a store (`StoreSnapshot`) plus its state
/// digest: what a refused batch must leave exactly as it was. Its
/// description holds no record values.
struct Fingerprint: Equatable, CustomStringConvertible {
    let snapshot: StoreSnapshot
    let digest: StateDigest
    let provisional: Bool
    let heads: [String: ChainHead]

    init(_ store: ReplicaStore) throws {
        snapshot = try StoreSnapshot(store)
        digest = store.stateDigest
        provisional = store.stateDigestProvisional
        heads = store.chainHeads
    }

    /// Equal in everything but the peer cursors.
    func sameData(as other: Fingerprint) -> Bool {
        snapshot.dump == other.snapshot.dump && snapshot.versionVector == other.snapshot.versionVector
            && snapshot.seq == other.snapshot.seq && snapshot.logPosition == other.snapshot.logPosition
            && snapshot.lastHLC == other.snapshot.lastHLC && snapshot.persistedState == other.snapshot.persistedState
            && snapshot.persistedVector == other.snapshot.persistedVector && snapshot.log == other.snapshot.log
            && digest == other.digest && provisional == other.provisional && heads == other.heads
    }

    var description: String {
        "\(snapshot), digest: \(digest.hex.prefix(16))\(provisional ? " (provisional)" : ""), heads: \(heads.sorted { $0.key < $1.key }.map { "\($0.key)@\($0.value)" })"
    }
}

/// What an adversarial peer does to changes: rebuild them with other
/// parts, relink them into a chain, sign them with whatever key it holds.
enum Forge {
    /// `change` with some parts replaced; the link and signature are kept
    /// unless given (a relay that edits a change and forwards it as it is).
    static func rebuilt(_ change: Change, dot: Dot? = nil, hlc: HLC? = nil, rowID: UUID? = nil, kind: ChangeKind? = nil,
                        fields: FieldMap? = nil, rowClock: RowClock? = nil, purgedPayloadDigest: [UInt8]?? = nil,
                        chainHash: [UInt8]? = nil, signature: [UInt8]?? = nil) -> Change {
        Change(dot: dot ?? change.dot, hlc: hlc ?? change.hlc, record: change.record, rowID: rowID ?? change.rowID,
               kind: kind ?? change.kind, fields: fields ?? change.fields, rowClock: rowClock ?? change.rowClock,
               purgedPayloadDigest: purgedPayloadDigest ?? change.purgedPayloadDigest, chainHash: chainHash ?? change.chainHash,
               signature: signature ?? change.signature)
    }

    /// The SHA-256 of a change's payload, as its link hashes it.
    static func payloadDigest(_ change: Change) -> [UInt8] {
        change.purgedPayloadDigest ?? SHA256.hash(ChainFormat.payload(change))
    }

    /// The link `change` would have after `previous` (independent of the store's code path).
    static func link(_ change: Change, after previous: [UInt8]) -> [UInt8] {
        SHA256.hash(parts: [previous, ChainFormat.header(change), payloadDigest(change)])
    }

    static func signature(_ link: [UInt8], with key: SigningKey) throws -> [UInt8] {
        try key.sign(ChainFormat.signedMessage(link))
    }

    /// Relinks `changes` (one origin's run, in order) after `previous`,
    /// signing the last with `key` (and none of the others).
    static func relinked(_ changes: [Change], after previous: [UInt8], signingLastWith key: SigningKey?) throws -> [Change] {
        var previous = previous
        var out: [Change] = []
        for (index, change) in changes.enumerated() {
            let link = link(change, after: previous)
            let signature = index == changes.count - 1 ? try key.map { try Self.signature(link, with: $0) } : nil
            out.append(change.linked(chainHash: link, signature: signature))
            previous = link
        }
        return out
    }

    /// The batch with other changes, everything else as the honest sender made it.
    static func batch(_ honest: ChangeBatch, changes: [Change]) -> ChangeBatch {
        ChangeBatch(incarnation: honest.incarnation, nextPosition: honest.nextPosition, changes: changes, heads: honest.heads,
                    senderClockMillis: honest.senderClockMillis, stateDigest: honest.stateDigest,
                    digestProvisional: honest.digestProvisional)
    }
}

/// Applies `batch` to `store` and expects it refused whole with `expected`
/// (exact), or with `batchRefused` whose reason holds every one of
/// `reasonContains`; then that nothing of it was applied.
func expectRefused(_ batch: ChangeBatch, by store: ReplicaStore, from peer: String, _ expected: ReplicaStoreError? = nil,
                   reasonContains: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let before = try Fingerprint(store)
    let error = thrownError(ReplicaStoreError.self) { try store.apply(batch, from: peer) }
    if let expected {
        #expect(error == expected, sourceLocation: sourceLocation)
    } else if case .batchRefused = error {
    } else {
        Issue.record("expected a refused batch, got \(error.map { "\($0)" } ?? "no error")", sourceLocation: sourceLocation)
    }
    if let error {
        for part in reasonContains {
            #expect(error.description.contains(part), "error: \(error)", sourceLocation: sourceLocation)
        }
    }
    #expect(try Fingerprint(store) == before, "nothing of a refused batch is applied", sourceLocation: sourceLocation)
}

/// Two stores hold the same merged state: equal version vectors, dumps,
/// state digests, heads and open conflicts. Never prints record values.
func expectConverged(_ one: ReplicaStore, _ other: ReplicaStore, sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(one.versionVector == other.versionVector, sourceLocation: sourceLocation)
    let sameDump = try one.canonicalDump() == other.canonicalDump()
    #expect(sameDump, "\(one.nodeID) and \(other.nodeID) hold different records", sourceLocation: sourceLocation)
    #expect(one.stateDigest == other.stateDigest, sourceLocation: sourceLocation)
    #expect(one.stateDigestProvisional == other.stateDigestProvisional, sourceLocation: sourceLocation)
    #expect(one.chainHeads == other.chainHeads, sourceLocation: sourceLocation)
}

/// Pulls both ways until neither has anything the other lacks.
func exchangeAll(_ one: ReplicaStore, _ other: ReplicaStore) throws {
    try pullAll(one, from: other)
    try pullAll(other, from: one)
    try pullAll(one, from: other)
}

/// The state digest recomputed from scratch out of the merged view: the sum
/// of SHA-256(RowDigestFormat) over every row, erased and deleted ones
/// included, with each row's open conflicts as the rest of its frontier.
func recomputedStateDigest(_ view: MergedView) throws -> StateDigest {
    var digest = StateDigest.zero
    for kind in RecordKind.allCases {
        var query = RecordQuery()
        query.includeDeleted = true
        query.includeErased = true
        query.limit = 1_000_000
        for record in try view.list(kind, query) {
            var conflicts: [String: [FrontierEntry]] = [:]
            for conflict in try view.openConflicts(kind, rowID: record.id) {
                conflicts[conflict.field, default: []].append(
                    FrontierEntry(stamp: FieldStamp(hlc: conflict.hlc, dot: conflict.dot), value: conflict.value))
            }
            let state = RowState(fields: record.fields, stamps: record.stamps, rowClock: record.rowClock, erased: record.erased,
                                 conflicts: conflicts)
            digest.add(SHA256.hash(RowDigestFormat.bytes(kind, id: record.id, state: state)))
        }
    }
    return digest
}

extension ReplicaStore {
    /// The maintained state digest equals the one recomputed from scratch.
    func recomputedDigestMatches() throws -> Bool {
        try recomputedStateDigest(view) == stateDigest
    }
}

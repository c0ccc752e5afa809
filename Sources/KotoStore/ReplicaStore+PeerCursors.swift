/// What this node knows of each peer's log and of syncing with it.
extension ReplicaStore {
    public func peerCursor(_ peer: String) throws -> PeerCursor? {
        try database.query("""
            SELECT peer, incarnation, position, peer_log_position, last_success, last_error, failures
            FROM peer_cursors WHERE peer = ?
            """, [.text(peer)]) { row in
            PeerCursor(peer: row.string(0) ?? peer, incarnation: row.string(1), position: UInt64(row.int64(2)),
                       peerLogPosition: UInt64(row.int64(3)), lastSuccessMillis: row.isNull(4) ? nil : row.int64(4),
                       lastError: row.string(5), consecutiveFailures: Int(row.int64(6)))
        }.first
    }

    /// Records the peer's reported log end (for lag) after a successful exchange.
    public func recordPeerLogPosition(_ peer: String, position: UInt64) throws {
        try database.transaction {
            try database.run("""
                INSERT INTO peer_cursors (peer, peer_log_position) VALUES (?, ?)
                ON CONFLICT (peer) DO UPDATE SET peer_log_position = excluded.peer_log_position
                """, .text(peer), .integer(Int64(position)))
        }
    }

    /// Records a successful exchange that `peer` started (it pulled from us):
    /// clears an earlier error shown for it.
    public func recordPeerContact(_ peer: String) throws {
        try database.transaction {
            try database.run("""
                INSERT INTO peer_cursors (peer, last_success) VALUES (?, ?)
                ON CONFLICT (peer) DO UPDATE SET last_success = excluded.last_success, last_error = NULL, failures = 0
                """, .text(peer), .integer(Int64(options.now())))
        }
    }

    /// Records a failed exchange with `peer`; the message must hold no personal data.
    public func recordPeerFailure(_ peer: String, message: String) throws {
        try database.transaction {
            try database.run("""
                INSERT INTO peer_cursors (peer, last_error, failures) VALUES (?, ?, 1)
                ON CONFLICT (peer) DO UPDATE SET last_error = excluded.last_error, failures = failures + 1
                """, .text(peer), .text(message))
        }
    }

    /// Starts the next pull from `peer` at position 0 (its log's incarnation changed).
    public func resetPeerCursor(_ peer: String, incarnation: String?) throws {
        try database.transaction {
            try database.run("""
                INSERT INTO peer_cursors (peer, incarnation, position) VALUES (?, ?, 0)
                ON CONFLICT (peer) DO UPDATE SET incarnation = excluded.incarnation, position = 0
                """, .text(peer), incarnation.map(SQLiteValue.text) ?? .null)
        }
    }
}

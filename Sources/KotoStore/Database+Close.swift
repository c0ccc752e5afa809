extension ReplicaStore {
    /// Closes the store's connection (the daemon's last step before exit):
    /// with no other connection open, SQLite checkpoints the WAL into the
    /// database file and removes it. Every later call throws "database is closed".
    public func close() throws(SQLiteError) {
        try database.close()
    }

    public var isClosed: Bool { database.isClosed }
}

extension ReadOnlyReplica {
    /// Closes the read-only connection; close it before the writer's, so the writer's close is the last.
    public func close() throws(SQLiteError) {
        try view.database.close()
    }
}

extension AccessLogStore {
    /// Closes the access log's connection; later entries throw (and their requests fail closed).
    public func close() throws(SQLiteError) {
        try database.close()
    }
}

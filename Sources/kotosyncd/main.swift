import Foundation
import Glibc
import KotoNode

// kotosyncd: one office's kotosync daemon. Thin: parse arguments, load the
// configuration and secrets, run the node, stop it on SIGTERM/SIGINT; or run
// one of the `keygen` / `credential new` commands (their logic is in KotoNode).

let usage = """
usage: kotosyncd --config PATH [--restored]
       kotosyncd keygen --out PATH
       kotosyncd credential new --role peer --node NODE
       kotosyncd credential new --role office --municipality CODE [--name NAME]
       kotosyncd credential new --role coordinator --name NAME
       kotosyncd credential new --role admin --name NAME
       kotosyncd credential new --role scrape --name NAME
       kotosyncd repair-fork --config PATH

Runs one office's kotosync node: the local SQLite replica, sync with the
configured peers over HTTP, and the API (see README.md).

options:
  --config PATH   JSON configuration file (see Config/ for examples); it names
                  the region manifest, this node's key file and its secrets file
  --restored      the database was just restored from a backup: start a new
                  log incarnation so peers re-read this node's log from 0, and
                  take no local write until a peer has said how many of this
                  node's own changes exist (and they are pulled back)
  -h, --help      show this help

commands:
  keygen --out PATH
                  writes a new Ed25519 private key to PATH (mode 0600; refuses
                  to overwrite an existing file) and prints the line
                  "publicKeys": ["ed25519:..."] for this node's entry in the
                  region manifest
  credential new --role ROLE ...
                  prints a new random bearer token (shown once: give it to its
                  holder, keep no copy) and the entry with its SHA-256 to add
                  to the "accept" list of each node's secrets file it must open.
                  Every credential names its holder:
    --role peer --node NODE              another node; the token goes into
                                         NODE's own secrets file as
                                         "peerCredential"
    --role office --municipality CODE    office staff of that municipality
      [--name NAME]                      (optionally the person)
    --role coordinator --name NAME       the regional coordinator
    --role admin --name NAME             an operator
    --role scrape --name NAME            a metrics scraper (Prometheus): it
                                         opens GET /metrics only
  repair-fork --config PATH
                  with kotosyncd stopped: mends a node whose own change history
                  forked (restored from an old backup, it reused seqs its peers
                  hold under other changes; its status shows ownFork and local
                  writes answer 503 "forked"). Pulls the region's history back
                  from every peer it contacts (all must answer) into a new
                  database, re-issues the forked local writes as new changes,
                  and keeps the old database as <database>.forked-<time>

environment:
  KOTOSYNC_SCHEMA_VERSION   announce another schema version to peers (testing only)
  KOTOSYNC_TEST_CLOCK_OFFSET_MS
                            TEST ONLY: move this node's wall clock by this many
                            ms (clock-skew tests); honoured only together with
                            KOTOSYNC_TEST_HOOKS=1, refused at start without it
  KOTOSYNC_TEST_COMPACTION_HORIZON_MS
                            TEST ONLY: compaction.horizonHours as this many ms
                            (a stopped peer is silent in seconds); same flag

Stops gracefully on SIGTERM or SIGINT, its parts in reverse order of start:
no new connections and the requests in flight finish, the sync links finish
the batch in flight, then the access log and the database close (the WAL is
checkpointed into the database file and removed). A second signal, or the
configured shutdownGraceSeconds plus 5 s, ends it at once (exit status 1).
Under systemd (Type=notify) it reports READY=1 once it serves and
STOPPING=1 when it begins to stop.
Exit status: 0 done, 1 cannot start or failed, 2 bad arguments or configuration.
"""

func fail(_ message: String, code: Int32 = 2) -> Never {
    FileHandle.standardError.write(Data("kotosyncd: \(message)\n".utf8))
    exit(code)
}

var arguments = CommandLine.arguments.dropFirst()
if arguments.contains("-h") || arguments.contains("--help") {
    print(usage)
    exit(0)
}
switch arguments.first {
case "keygen":
    let path: String
    do {
        path = try Commands.parseKeygen(Array(arguments.dropFirst()))
    } catch {
        fail("\(error)")
    }
    do {
        let line = try Commands.keygen(out: path)
        FileHandle.standardError.write(Data("wrote \(path) (mode 0600); add this line to the node's entry in the region manifest:\n".utf8))
        print(line)
        exit(0)
    } catch {
        fail("keygen: \(error)", code: 1)
    }
case "credential":
    guard arguments.dropFirst().first == "new" else { fail("credential takes: new --role ...; see --help") }
    do {
        let holder = try Commands.parseCredentialHolder(Array(arguments.dropFirst(2)))
        print(IssuedCredential.issue(for: holder).instructions, terminator: "")
        exit(0)
    } catch {
        fail("\(error)")
    }
default:
    break
}

// `repair-fork --config PATH`: the daemon's own configuration, another job.
let repairFork = arguments.first == "repair-fork"
if repairFork { arguments = arguments.dropFirst() }
var configPath: String?
var restored = false
while let argument = arguments.popFirst() {
    switch argument {
    case "--restored":
        restored = true
    case "--config":
        guard let path = arguments.popFirst() else { fail("--config needs a path") }
        configPath = path
    default:
        fail("unknown argument \(argument); see --help")
    }
}
guard let configPath else { fail("--config PATH is required; see --help") }

let config: NodeConfig
let secrets: Secrets
do {
    var loaded = try NodeConfig.load(path: configPath)
    if let override = ProcessInfo.processInfo.environment["KOTOSYNC_SCHEMA_VERSION"] {
        guard let version = Int(override) else { fail("KOTOSYNC_SCHEMA_VERSION must be an integer") }
        loaded.advertisedSchemaVersion = version
    }
    if let offset = try TestHooks.clockOffsetMillis(environment: ProcessInfo.processInfo.environment) {
        loaded.testClockOffsetMillis = offset
    }
    if let horizon = try TestHooks.compactionHorizonMillis(environment: ProcessInfo.processInfo.environment) {
        loaded.compaction.horizon = .milliseconds(horizon)
        loaded.testCompactionHorizon = true
    }
    config = loaded
    secrets = try Secrets.load(path: config.secretsFile)
} catch {
    fail("configuration error: \(error)")
}

signal(SIGPIPE, SIG_IGN)
if repairFork {
    if restored { fail("repair-fork takes no --restored") }
    do {
        let report = try await ForkRepair.run(config: config, secrets: secrets)
        print(report.description)
        exit(0)
    } catch {
        fail("repair-fork: \(error)", code: 1)
    }
}
let node: Node
do {
    node = try Node(config: config, secrets: secrets)
} catch let error as ConfigError {
    // The manifest, the key and the checks against the manifest.
    fail("configuration error: \(error)")
} catch {
    fail("cannot start: \(error)", code: 1)
}

// SIGTERM and SIGINT are read as an async sequence by the node's service
// group: the first stops it gracefully, in reverse order of start; a second
// one, or the deadline, ends the process at once.
let signals = SignalSequence([SIGTERM, SIGINT])
do {
    switch try await node.serve(restored: restored, signals: signals) {
    case .stopped:
        exit(0)
    case .forced(.secondSignal):
        FileHandle.standardError.write(Data("level=warning event=node.forced_exit\n".utf8))
        exit(1)
    case .forced(.deadlinePassed):
        FileHandle.standardError.write(Data("level=error event=node.shutdown_deadline_passed\n".utf8))
        exit(1)
    }
} catch {
    FileHandle.standardError.write(Data("level=error event=node.failed error=\"\(error)\"\n".utf8))
    exit(1)
}

import Foundation
import KotoCore
import KotoHTTP
import KotoStore
import KotoTestSupport
import Testing
@testable import KotoNode

/// The field sets of a client a caller is shown, written out here (not
/// taken from `OfficeScope`) so a change of the rules shows as a failure.
enum ScopeFields {
    static let allClient: Set<String> = Set(RecordKind.client.fields.map(\.name))
    static let minimised: Set<String> = ["ownerMunicipality", "status", "permitBasis", "integrationLanguage", "deleted"]
    static let placement: Set<String> = minimised.union(["clientNumber", "givenName", "familyName", "motherTongue",
                                                         "interpreterLanguage", "literacySupport"])
    static func all(_ kind: RecordKind) -> Set<String> { Set(kind.fields.map(\.name)) }
}

/// Whose a record is, seen from Jakobstad's office (598): its own, another
/// municipality's (Nykarleby, 893), or another's tied to Jakobstad (a
/// Nykarleby client placed into a Jakobstad service; a service serving
/// both; a placement of a Nykarleby client into a Jakobstad service).
enum Ownership: String, CaseIterable, Sendable { case own, other, tied }

enum ScopeOperation: String, CaseIterable, Sendable { case read, list, csv, create, update, delete, restore, erase }

/// One cell of the matrix and what it must answer.
struct ScopeCase: Sendable, CustomStringConvertible {
    let caller: TestCaller
    let kind: RecordKind
    let ownership: Ownership
    let operation: ScopeOperation

    var description: String { "\(caller) \(operation.rawValue) \(ownership.rawValue) \(kind.rawValue)" }

    var isRead: Bool { [.read, .list, .csv].contains(operation) }

    /// The status the cell must answer.
    var status: HTTPStatus {
        switch caller.role {
        case .coordinator: return isRead ? .ok : .forbidden
        case .office:
            if isRead { return .ok }
            if kind == .client && ownership != .own { return .forbidden }
            if ownership == .other { return .forbidden }
            return switch operation {
            case .create: .created
            case .delete: .noContent
            default: .ok
            }
        default: return .forbidden
        }
    }

    /// The error code of a 403: a role that may not use the route at all is
    /// `forbidden`; an office outside its scope `forbidden_scope`.
    var code: String? {
        guard status == .forbidden else { return nil }
        return caller.role == .office ? "forbidden_scope" : "forbidden"
    }

    /// The field a scope refusal names.
    var scopeField: String? {
        guard code == "forbidden_scope" else { return nil }
        return switch kind {
        case .client: "ownerMunicipality"
        case .service: "municipalities"
        case .placement: "clientId"
        }
    }

    /// The fields a read shows.
    var fields: Set<String>? {
        guard isRead, status == .ok else { return nil }
        guard kind == .client, caller.role == .office else { return ScopeFields.all(kind) }
        return switch ownership {
        case .own: ScopeFields.allClient
        case .tied: ScopeFields.placement
        case .other: ScopeFields.minimised
        }
    }

    static let all: [ScopeCase] = [TestCaller.office, .coordinator, .admin, .peer].flatMap { caller in
        RecordKind.allCases.flatMap { kind in
            Ownership.allCases.flatMap { ownership in
                ScopeOperation.allCases.compactMap { operation in
                    // A new client is the creator's or another's: "tied" is no way to create one.
                    kind == .client && ownership == .tied && operation == .create ? nil
                        : ScopeCase(caller: caller, kind: kind, ownership: ownership, operation: operation)
                }
            }
        }
    }
}

/// The records of the matrix on one node, each written by the office whose it is.
struct ScopeFixture {
    let node: TestNode
    var ids: [RecordKind: [Ownership: UUID]] = [:]

    init() async throws {
        node = try TestNode()
        let nykarleby = TestCaller.officeOf(893)
        let ownClient = try await node.create(.client, Self.client(1, owner: 598))
        let otherClient = try await node.create(.client, Self.client(2, owner: 893), as: nykarleby)
        let tiedClient = try await node.create(.client, Self.client(3, owner: 893), as: nykarleby)
        let ownService = try await node.create(.service, SampleJSON.service(number: 1, municipalities: "[598]"))
        let otherService = try await node.create(.service, SampleJSON.service(number: 2, municipalities: "[893]"), as: nykarleby)
        let sharedService = try await node.create(.service, SampleJSON.service(number: 3, municipalities: "[893,598]"), as: nykarleby)
        let ownPlacement = try await node.create(.placement, SampleJSON.enrolment(client: ownClient, service: ownService))
        let otherPlacement = try await node.create(.placement, SampleJSON.enrolment(client: otherClient, service: otherService), as: nykarleby)
        // Nykarleby places its client into Jakobstad's course: that ties the client to Jakobstad.
        let tiedPlacement = try await node.create(.placement, SampleJSON.enrolment(client: tiedClient, service: ownService), as: nykarleby)
        ids = [
            .client: [.own: ownClient, .other: otherClient, .tied: tiedClient],
            .service: [.own: ownService, .other: otherService, .tied: sharedService],
            .placement: [.own: ownPlacement, .other: otherPlacement, .tied: tiedPlacement],
        ]
    }

    static func client(_ number: Int, owner: Int) -> String {
        SampleJSON.client(number: number, owner: owner, extra: #""personalIdentityCode":"010190-123M","motherTongue":"ar","literacySupport":true"#)
    }

    /// A new record of this kind and ownership, for `create`.
    func newRecord(_ kind: RecordKind, _ ownership: Ownership) -> String {
        switch kind {
        case .client: Self.client(9, owner: ownership == .own ? 598 : 893)
        case .service: SampleJSON.service(number: 9, municipalities: ownership == .own ? "[598]" : ownership == .other ? "[893]" : "[893,598]")
        case .placement:
            ownership == .own ? SampleJSON.enrolment(client: ids[.client]![.own]!, service: ids[.service]![.own]!)
                : ownership == .other ? SampleJSON.enrolment(client: ids[.client]![.other]!, service: ids[.service]![.other]!)
                : SampleJSON.enrolment(client: ids[.client]![.tied]!, service: ids[.service]![.own]!)
        }
    }

    /// A harmless update of this kind.
    static func patch(_ kind: RecordKind) -> String {
        switch kind {
        case .client: #"{"status":"assessed"}"#
        case .service: #"{"capacity":5}"#
        case .placement: #"{"status":"waiting"}"#
        }
    }

    /// The office whose record it is.
    static func owner(_ kind: RecordKind, _ ownership: Ownership) -> TestCaller {
        switch (kind, ownership) {
        case (_, .own): .office
        case (.client, _), (.placement, _), (.service, .other): .officeOf(893)
        case (.service, .tied): .office
        }
    }
}

/// Office scopes as a matrix: role × own/other/tied record × kind × operation
/// → the status, the error code and field a refusal names, and exactly the
/// fields a read shows.
@Suite struct OfficeScopeTests {
    /// Serialized: 284 fixtures at once would crowd the timing-sensitive sync tests running beside them.
    @Test(.serialized, arguments: ScopeCase.all)
    func scopeMatrix(_ cell: ScopeCase) async throws {
        let fixture = try await ScopeFixture()
        let node = fixture.node
        let kind = cell.kind
        let id = fixture.ids[kind]![cell.ownership]!.lowercased
        let base = "/v1/\(kind.table)"
        if cell.operation == .restore {
            let deleted = try await node.send(.delete, "\(base)/\(id)", as: ScopeFixture.owner(kind, cell.ownership))
            try #require(deleted.status == .noContent, "the owner deletes it first")
        }
        let before = await node.syncState
        let response: HTTPResponse = switch cell.operation {
        case .read: try await node.send(.get, "\(base)/\(id)", as: cell.caller)
        case .list: try await node.send(.get, base, as: cell.caller)
        case .csv: try await node.send(.get, "\(base)?format=csv", as: cell.caller)
        case .create: try await node.send(.post, base, as: cell.caller, json: fixture.newRecord(kind, cell.ownership))
        case .update: try await node.send(.patch, "\(base)/\(id)", as: cell.caller, json: ScopeFixture.patch(kind))
        case .delete: try await node.send(.delete, "\(base)/\(id)", as: cell.caller)
        case .restore: try await node.send(.post, "\(base)/\(id)/restore", as: cell.caller)
        case .erase: try await node.send(.post, "\(base)/\(id)/erase", as: cell.caller)
        }
        #expect(response.status == cell.status)
        if let code = cell.code {
            #expect(response.errorCode == code)
            #expect(await node.syncState == before, "a refused request writes nothing")
        }
        if let field = cell.scopeField {
            #expect(response.problemFields.contains(field))
            #expect(response.errorMessage?.contains("office 598") == true, "the refusal names the scope")
        }
        guard let fields = cell.fields else { return }
        switch cell.operation {
        case .read:
            let json = try response.json
            let shown = Set((json["fields"]?.objectMembers ?? []).map(\.0))
            let stamped = Set((json["stamps"]?.objectMembers ?? []).map(\.0))
            #expect(shown == fields)
            #expect(stamped.isSubset(of: fields), "no stamp of a field not shown")
            if kind == .client { #expect(json["view"] == .string(Self.view(fields))) }
        case .list:
            let item = try response.json["items"]?.arrayValue?.first { $0["id"] == .string(id) }
            let members = try #require(item)["fields"]?.objectMembers ?? []
            #expect(Set(members.map(\.0)) == fields)
        case .csv:
            let lines = response.bodyText.dropFirst().components(separatedBy: "\r\n")
            let row = try #require(lines.first { $0.hasPrefix(id) }).components(separatedBy: ";")
            let header = RecordKind(rawValue: kind.rawValue)!.fields.map(\.name)
            for (index, name) in header.enumerated() where !fields.contains(name) {
                #expect(row[index + 1].isEmpty, "\(name) is empty in the CSV")
            }
            if kind == .client { #expect(row.last == Self.view(fields)) }
        default: break
        }
    }

    static func view(_ fields: Set<String>) -> String {
        fields == ScopeFields.allClient ? "full" : fields == ScopeFields.placement ? "placement" : "minimised"
    }

    // MARK: Filters

    /// A filter on a field the minimised view hides searches the office's own
    /// clients only: it tells nothing about other municipalities' clients.
    @Test func personalFiltersSearchTheOfficesOwnClientsOnly() async throws {
        let fixture = try await ScopeFixture()
        let node = fixture.node
        let own = fixture.ids[.client]![.own]!.lowercased
        // Every fixture client has the same family name; only the office's own comes back.
        let byName = try await node.send(.get, "/v1/clients?familyName=Henkil%C3%B6", as: .office)
        #expect(byName.status == .ok)
        #expect(try byName.json.itemIDs == [own])
        let byCode = try await node.send(.get, "/v1/clients?personalIdentityCode=010190-123M", as: .office)
        #expect(try byCode.json.itemIDs == [own])
        // The coordinator's filter searches everyone.
        #expect(try await node.send(.get, "/v1/clients?familyName=Henkil%C3%B6", as: .coordinator).json.itemIDs.count == 3)
        // Naming another municipality with a hidden field is refused, naming the field.
        let refused = try await node.send(.get, "/v1/clients?ownerMunicipality=893&familyName=Henkil%C3%B6", as: .office)
        #expect(refused.status == .forbidden)
        #expect(refused.errorCode == "forbidden_scope")
        #expect(refused.problemFields == ["familyName"])
        #expect(!refused.bodyText.contains("Henkil"), "the refusal quotes no value")
        // Filters on minimised fields reach other municipalities' clients.
        let minimised = try await node.send(.get, "/v1/clients?ownerMunicipality=893&status=new", as: .office)
        #expect(try Set(minimised.json.itemIDs) == [fixture.ids[.client]![.other]!.lowercased, fixture.ids[.client]![.tied]!.lowercased])
    }

    // MARK: Conflicts

    /// Conflict values of fields a caller may not see are withheld: an admin
    /// sees none of a client's personal fields, another office none it cannot read.
    @Test func conflictValuesOfHiddenFieldsAreWithheld() async throws {
        let pair = try ConflictResolutionAPITests.Pair()
        let id = try await pair.node.create(.client, SampleJSON.client())
        let given = try await pair.conflict(.client, id, "givenName", ours: #""Testa""#, theirs: .text("Testb"))
        let status = try await pair.conflict(.client, id, "status", ours: #""assessed""#, theirs: .text("closed"))
        func conflict(_ conflictID: String, as caller: TestCaller) async throws -> JSONValue? {
            try await pair.node.send(.get, "/v1/conflicts", as: caller).json["items"]?.arrayValue?.first { $0["id"] == .string(conflictID) }
        }
        for caller in [TestCaller.admin, .officeOf(893)] {
            let hidden = try #require(try await conflict(given, as: caller))
            #expect(hidden["value"] == .null, "\(caller)")
            #expect(hidden["valueWithheld"] == .bool(true), "\(caller)")
            let shown = try #require(try await conflict(status, as: caller))
            #expect(shown["value"] != .null && shown["valueWithheld"] == nil, "\(caller) sees a minimised field's value")
            let csv = try await pair.node.send(.get, "/v1/conflicts?format=csv", as: caller)
            #expect(!csv.bodyText.contains("Testa") && !csv.bodyText.contains("Testb"), "\(caller): no value in the CSV")
        }
        for caller in [TestCaller.coordinator, .office] {
            let open = try #require(try await conflict(given, as: caller))
            #expect(open["value"] != .null && open["valueWithheld"] == nil, "\(caller)")
        }
        // Another office's single read shows no conflict on a field it cannot see.
        let record = try await pair.node.send(.get, "/v1/clients/\(id.lowercased)", as: .officeOf(893)).json
        #expect(record["conflicts"]?.arrayValue?.map { $0["field"] } == [.string("status")])
    }

    /// A placement is the office's to settle when it is into its service, as it is the office's to write.
    @Test func theOfficeOfAPlacementsServiceResolvesItsConflicts() async throws {
        let pair = try ConflictResolutionAPITests.Pair()
        let client = try await pair.node.create(.client, SampleJSON.client(number: 1, owner: 893))
        let service = try await pair.node.create(.service, SampleJSON.service(municipalities: "[598]"))
        let placement = try await pair.node.create(.placement, SampleJSON.enrolment(client: client, service: service))
        let conflict = try await pair.conflict(.placement, placement, "status", ours: #""waiting""#, theirs: .text("referred"))
        let stranger = try await pair.resolve(conflict, as: .officeOf(288), json: #"{"value":"waiting"}"#)
        #expect(stranger.status == .forbidden && stranger.errorCode == "forbidden_scope")
        #expect(try await pair.resolve(conflict, as: .office, json: #"{"value":"waiting"}"#).status == .ok)
        #expect(try await pair.openConflicts == 0)
    }

    @Test func anOfficeResolvesNoConflictOfAnotherMunicipalitysClient() async throws {
        let pair = try ConflictResolutionAPITests.Pair()
        let id = try await pair.node.create(.client, SampleJSON.client())
        let given = try await pair.conflict(.client, id, "givenName", ours: #""Testa""#, theirs: .text("Testb"))
        let refused = try await pair.resolve(given, as: .officeOf(893), json: #"{"value":"Testc"}"#)
        #expect(refused.status == .forbidden)
        #expect(refused.errorCode == "forbidden_scope")
        #expect(refused.problemFields == ["ownerMunicipality"])
        #expect(try await pair.openConflicts == 1)
    }
}

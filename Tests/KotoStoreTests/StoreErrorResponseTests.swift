import Foundation
import KotoCore
import KotoHTTP
import KotoStore
import Testing

/// Store refusals answer API clients through `HTTPResponseError`: the
/// status and code clients switch on, problems naming the field, and the
/// store's own faults hidden behind a 500.
@Suite struct StoreErrorResponseTests {
    let id = UUID(uuidString: "6f1c2d3e-0000-4000-8000-000000000007")!

    @Test func validationFailureNamesEveryField() {
        let error = ReplicaStoreError.invalid([FieldProblem(field: "birthDate", reason: "must be a date YYYY-MM-DD"),
                                              FieldProblem(field: "status", reason: "is required")])
        #expect(error.status == .unprocessableContent)
        #expect(error.code == "validation_failed")
        #expect(error.message == "2 problems with the record")
        #expect(error.problems.map(\.field) == ["birthDate", "status"])
    }

    @Test(arguments: [
        (ReplicaStoreError.notFound(.client, UUID()), 404, "not_found"),
        (.alreadyExists(.service, UUID()), 409, "already_exists"),
        (.erased(.client, UUID()), 410, "erased"),
        (.snapshotRequired, 410, "snapshot_required"),
        (.forked(Dot(origin: "kronoby", seq: 4)), 409, "fork"),
        (.ownChainForked("seq reused"), 503, "forked"),
        (.notMember("oulu"), 403, "not_a_member"),
        (.batchRefused("gap"), 409, "batch_refused"),
    ])
    func refusalsCarryTheirStatusAndCode(_ error: ReplicaStoreError, status: Int, code: String) {
        #expect(error.status.code == status)
        #expect(error.code == code)
        #expect(error.response.status.code == status)
    }

    @Test func faultsOfTheStoreItselfAreInternal() {
        for error in [ReplicaStoreError.corrupt("unreadable row id"), .nodeMismatch(stored: "a", requested: "b"),
                      .schemaTooNew(found: 9, supported: 3), .keyNotListed("larsmo")] {
            #expect(error.status == .internalServerError)
        }
    }

    @Test func messagesNameRecordsByKindAndIdOnly() {
        let error = ReplicaStoreError.notFound(.client, id)
        #expect(error.message == "no client 6f1c2d3e-0000-4000-8000-000000000007")
    }
}

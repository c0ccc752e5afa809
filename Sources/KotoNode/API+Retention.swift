import Foundation
import KotoCore
import KotoHTTP
import KotoStore

/// `GET /v1/retention/preview` and `POST /v1/retention/run`: what the
/// retention job would erase on this node, and running it now. Both for
/// the coordinator and admins; both answer identifiers and dates only.
extension API {
    var retentionJob: RetentionJob {
        RetentionJob(node: config.node, municipality: manifest.member(config.node)?.municipality.code ?? 0,
                     settings: config.retention, replica: replica, reader: reader, scheduler: scheduler, access: access)
    }

    func registerRetention(_ router: inout Router) {
        router.get("/v1/retention/preview", endpoint([.coordinator, .admin]) { request, _ in try await retentionPreview(request) })
        router.post("/v1/retention/run", endpoint([.coordinator, .admin]) { request, caller in try await retentionRun(request, caller) })
    }

    private func refuseQuery(_ request: HTTPRequest) throws {
        let problems = request.queryItems.map { FieldProblem(field: $0.name, reason: "is not a parameter of \(request.path)") }
        if !problems.isEmpty { throw HTTPError.invalidQuery(problems) }
    }

    private func retentionPreview(_ request: HTTPRequest) async throws -> HTTPResponse {
        try refuseQuery(request)
        let job = retentionJob
        let (today, candidates) = try await job.preview()
        let items: [JSONValue] = candidates.map { candidate in
            .object([
                ("id", .string(candidate.facts.id.lowercased)),
                ("ownerMunicipality", .number(Double(candidate.facts.ownerMunicipality))),
                ("retentionUntil", .string(candidate.until.description)),
                ("reason", .string(candidate.reason.rawValue)),
                ("placements", .array(candidate.facts.placements.map { .string($0.lowercased) })),
            ])
        }
        return APIResponse.json(.object(retentionHeader(job, today: today) + [("items", .array(items))]))
    }

    private func retentionRun(_ request: HTTPRequest, _ caller: Caller) async throws -> HTTPResponse {
        try refuseQuery(request)
        let job = retentionJob
        let purpose = request.headers["X-Purpose"].flatMap { $0.isEmpty ? nil : $0 }
        Log.info("retention.requested", ["node": config.node, "by": caller.description])
        let (today, erased) = try await job.run(route: "POST /v1/retention/run", purpose: purpose)
        let items: [JSONValue] = erased.map { facts in
            .object([
                ("id", .string(facts.id.lowercased)),
                ("placements", .array(facts.placements.map { .string($0.lowercased) })),
            ])
        }
        return APIResponse.json(.object(retentionHeader(job, today: today) + [("erased", .array(items))]))
    }

    private func retentionHeader(_ job: RetentionJob, today: LocalDate) -> [(String, JSONValue)] {
        [("node", .string(job.node)), ("municipality", .number(Double(job.municipality))), ("today", .string(today.description)),
         ("years", .number(Double(job.settings.years)))]
    }
}

import KotoCore
import KotoHTTP
import KotoStore

/// The API's own refusals that recur across endpoints.
extension HTTPError {
    /// 422 `validation_failed`: the record (or a value in it) breaks the schema's rules.
    static func validationFailed(_ problems: [FieldProblem]) -> HTTPError {
        HTTPError(.unprocessableContent, code: "validation_failed", message: FieldProblem.summary(of: problems),
                  problems: problems.map(\.httpProblem))
    }

    /// 400 `invalid_query`: query parameters that name no filter or hold an impossible value.
    static func invalidQuery(_ problems: [FieldProblem], message: String = "invalid query parameters") -> HTTPError {
        HTTPError(.badRequest, code: "invalid_query", message: message, problems: problems.map(\.httpProblem))
    }
}

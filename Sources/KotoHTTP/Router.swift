/// Maps method + path pattern to async handlers. Patterns are literal
/// segments and `{name}` parameters (`/v1/{kind}/{id}`); a literal segment
/// beats a parameter when both match. Build it fully before handing it to a
/// server: it is a value, so what the server holds never changes under it.
public struct Router: Sendable {
    public typealias Handler = @Sendable (HTTPRequest) async throws -> HTTPResponse

    private enum Segment: Sendable, Hashable {
        case literal(String)
        case parameter(String)

        var isParameter: Bool {
            if case .parameter = self { true } else { false }
        }
    }

    private struct Route: Sendable {
        let method: HTTPMethod
        let pattern: String
        let segments: [Segment]
        let handler: Handler

        /// The parameter bindings if `path` fits this route's pattern.
        func match(_ path: [String]) -> [String: String]? {
            guard path.count == segments.count else { return nil }
            var parameters: [String: String] = [:]
            for (segment, value) in zip(segments, path) {
                switch segment {
                case .literal(let literal):
                    guard literal == value else { return nil }
                case .parameter(let name):
                    guard !value.isEmpty else { return nil }
                    parameters[name] = value
                }
            }
            return parameters
        }

        /// Whether this route is more specific than `other`: at the first
        /// position where they differ in kind, this one has the literal.
        func isMoreSpecific(than other: Route) -> Bool {
            for (mine, theirs) in zip(segments, other.segments) where mine.isParameter != theirs.isParameter {
                return !mine.isParameter
            }
            return false
        }

        /// The pattern with parameter names erased, to detect duplicates.
        var shape: [String?] {
            segments.map { if case .literal(let text) = $0 { text } else { nil } }
        }
    }

    private var routes: [Route] = []

    /// Sees every error that becomes a 500 (one that is not an
    /// `HTTPResponseError`, or one whose status is 500) before the client
    /// gets the generic internal error, so it is logged, described, without
    /// reaching the client.
    public var unexpectedErrorReporter: (@Sendable (HTTPRequest, any Error) -> Void)?

    /// What the router saw of one handled request, for metrics: the route's
    /// pattern rather than the path, so no id ever becomes a label.
    public struct Observation: Sendable {
        public let method: HTTPMethod
        /// The pattern of the route that answered (`/v1/clients/{id}`); nil when none matched (404, 405).
        public let route: String?
        public let status: HTTPStatus
        /// From routing to the finished response (the handler's work, not the socket's).
        public let duration: Duration
        /// The request's and the response's size as HTTP/1.1 messages (start line,
        /// headers and body; the server's own framing headers estimated), so a node
        /// can say how many bytes sync costs it per route.
        public let requestBytes: Int
        public let responseBytes: Int

        public init(method: HTTPMethod, route: String?, status: HTTPStatus, duration: Duration, requestBytes: Int = 0, responseBytes: Int = 0) {
            self.method = method
            self.route = route
            self.status = status
            self.duration = duration
            self.requestBytes = requestBytes
            self.responseBytes = responseBytes
        }
    }

    /// Sees every request `handle` answers, once its response is built.
    public var observer: (@Sendable (Observation) -> Void)?

    public init() {}

    /// Registers `handler` for `method` on `pattern`. A malformed pattern or a
    /// second registration of the same method and pattern is a programming
    /// error and traps.
    public mutating func add(_ method: HTTPMethod, _ pattern: String, _ handler: @escaping Handler) {
        precondition(pattern.first == "/", "route pattern must start with '/': \(pattern)")
        var segments: [Segment] = []
        var names: Set<String> = []
        for raw in pattern.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            if raw.first == "{" && raw.last == "}" && raw.count > 2 {
                let name = String(raw.dropFirst().dropLast())
                precondition(!name.contains("{") && !name.contains("}"), "malformed parameter in \(pattern)")
                precondition(names.insert(name).inserted, "duplicate parameter '\(name)' in \(pattern)")
                segments.append(.parameter(name))
            } else {
                precondition(!raw.contains("{") && !raw.contains("}"), "malformed segment '\(raw)' in \(pattern)")
                segments.append(.literal(String(raw)))
            }
        }
        let route = Route(method: method, pattern: pattern, segments: segments, handler: handler)
        precondition(
            !routes.contains { $0.method == method && $0.shape == route.shape },
            "\(method) \(pattern) registered twice")
        routes.append(route)
    }

    public mutating func get(_ pattern: String, _ handler: @escaping Handler) { add(.get, pattern, handler) }
    public mutating func post(_ pattern: String, _ handler: @escaping Handler) { add(.post, pattern, handler) }
    public mutating func put(_ pattern: String, _ handler: @escaping Handler) { add(.put, pattern, handler) }
    public mutating func patch(_ pattern: String, _ handler: @escaping Handler) { add(.patch, pattern, handler) }
    public mutating func delete(_ pattern: String, _ handler: @escaping Handler) { add(.delete, pattern, handler) }

    /// Every registered method and pattern, in registration order, so a
    /// test can hold the API's description to what the router really serves.
    public var registeredRoutes: [(method: HTTPMethod, pattern: String)] {
        routes.map { ($0.method, $0.pattern) }
    }

    /// Routes `request` and runs its handler, turning every failure into a
    /// response: no route 404, wrong method 405 (with `Allow`), `HTTPError`
    /// its own response, anything else a generic 500. `HEAD` falls back to
    /// the `GET` handler; the server then sends headers only. Usable
    /// in-process, without sockets.
    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        guard let observer else { return await dispatch(request).response }
        let started = ContinuousClock.now
        let (route, response) = await dispatch(request)
        observer(Observation(method: request.method, route: route, status: response.status, duration: ContinuousClock.now - started,
                             requestBytes: Self.messageBytes(request), responseBytes: Self.messageBytes(response)))
        return response
    }

    /// `METHOD target HTTP/1.1`, each `name: value`, the blank line and the body.
    static func messageBytes(_ request: HTTPRequest) -> Int {
        request.method.rawValue.utf8.count + request.target.utf8.count + 12 + headerBytes(request.headers) + request.body.count
    }

    /// `HTTP/1.1 200 OK`, each `name: value` plus the server's Content-Length,
    /// Date and Connection (about 80 bytes), the blank line and the body.
    static func messageBytes(_ response: HTTPResponse) -> Int {
        17 + headerBytes(response.headers) + 80 + 2 + response.body.count
    }

    private static func headerBytes(_ headers: HTTPHeaders) -> Int {
        headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
    }

    /// The response to `request` and the pattern of the route that gave it, if one matched.
    private func dispatch(_ request: HTTPRequest) async -> (route: String?, response: HTTPResponse) {
        let candidates = routes.compactMap { route in route.match(request.pathSegments).map { (route, $0) } }
        guard !candidates.isEmpty else {
            return (nil, HTTPError.notFound("no route for \(request.method) \(request.path)").response)
        }
        var chosen = Self.mostSpecific(candidates.filter { $0.0.method == request.method })
        if chosen == nil && request.method == .head {
            chosen = Self.mostSpecific(candidates.filter { $0.0.method == .get })
        }
        guard let (route, parameters) = chosen else {
            var allowed: [HTTPMethod] = []
            for (route, _) in candidates where !allowed.contains(route.method) {
                allowed.append(route.method)
            }
            if allowed.contains(.get) && !allowed.contains(.head) {
                allowed.append(.head)
            }
            return (nil, HTTPError.methodNotAllowed(allowed: allowed).response)
        }
        var request = request
        request.pathParameters = parameters
        do {
            return (route.pattern, try await route.handler(request))
        } catch {
            return (route.pattern, response(for: error, to: request))
        }
    }

    /// The one place an error becomes a response: an `HTTPResponseError`
    /// answers for itself, unless it is a 500; a 500 and anything else is
    /// reported and answers the generic internal error, leaking nothing.
    public func response(for error: any Error, to request: HTTPRequest) -> HTTPResponse {
        if let convertible = error as? any HTTPResponseErrorConvertible, let mapped = convertible.responseError,
           mapped.status != .internalServerError {
            return mapped.response
        }
        if let error = error as? any HTTPResponseError, error.status != .internalServerError {
            return error.response
        }
        unexpectedErrorReporter?(request, error)
        return HTTPError.internalError.response
    }

    private static func mostSpecific(_ candidates: [(Route, [String: String])]) -> (Route, [String: String])? {
        var best: (Route, [String: String])?
        for candidate in candidates {
            if let current = best, !candidate.0.isMoreSpecific(than: current.0) { continue }
            best = candidate
        }
        return best
    }
}

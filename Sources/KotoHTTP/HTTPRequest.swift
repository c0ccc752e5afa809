/// A request as handlers see it: method, target split into a decoded path
/// and query, case-insensitive headers, the body, and the parameters the
/// router extracted from the path pattern.
public struct HTTPRequest: Sendable {
    /// One `name=value` pair from the query string, percent-decoded.
    public struct QueryItem: Sendable, Hashable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public var method: HTTPMethod
    /// The request target exactly as sent (origin form, e.g. `/v1/a?b=c`).
    public let target: String
    /// The path part of the target, still percent-encoded.
    public let path: String
    /// The path split on `/` and percent-decoded, without the leading empty
    /// segment: `/a/b%2Fc` is `["a", "b/c"]`, `/` is `[""]`.
    public let pathSegments: [String]
    /// The query items in order (`+` decodes to a space).
    public let queryItems: [QueryItem]
    /// Header fields as received, looked up case-insensitively.
    public var headers: HTTPHeaders
    /// The body bytes; exactly `Content-Length` of them.
    public var body: [UInt8]
    /// Values bound to `{name}` segments of the matched route pattern.
    public internal(set) var pathParameters: [String: String] = [:]

    /// Builds a request from a raw target; throws 400 if the target is not
    /// an origin-form (or absolute-form) path with valid percent-encoding.
    public init(method: HTTPMethod, target: String, headers: HTTPHeaders = [:], body: [UInt8] = []) throws(HTTPError) {
        guard target.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .badRequest("request target contains invalid characters")
        }
        var remainder = Substring(target)
        if let fragment = remainder.firstIndex(of: "#") {
            remainder = remainder[..<fragment]
        }
        // Absolute form (RFC 9112 §3.2.2): drop scheme and authority.
        for scheme in ["http://", "https://"] where remainder.lowercased().hasPrefix(scheme) {
            let afterScheme = remainder.dropFirst(scheme.count)
            if let slash = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" }) {
                remainder = afterScheme[slash...]
                if remainder.first == "?" { remainder = "/" + remainder }
            } else {
                remainder = "/"
            }
        }
        guard remainder.first == "/" else {
            throw .badRequest("request target must start with '/'")
        }
        let rawPath: Substring
        let rawQuery: Substring?
        if let question = remainder.firstIndex(of: "?") {
            rawPath = remainder[..<question]
            rawQuery = remainder[remainder.index(after: question)...]
        } else {
            rawPath = remainder
            rawQuery = nil
        }
        var segments: [String] = []
        for raw in rawPath.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            guard let segment = PercentEncoding.decode(raw, plusAsSpace: false) else {
                throw .badRequest("path contains invalid percent-encoding")
            }
            segments.append(segment)
        }
        var items: [QueryItem] = []
        for pair in rawQuery?.split(separator: "&") ?? [] {
            let name: Substring
            let value: Substring
            if let equals = pair.firstIndex(of: "=") {
                name = pair[..<equals]
                value = pair[pair.index(after: equals)...]
            } else {
                name = pair
                value = ""
            }
            guard let decodedName = PercentEncoding.decode(name, plusAsSpace: true),
                  let decodedValue = PercentEncoding.decode(value, plusAsSpace: true)
            else {
                throw .badRequest("query contains invalid percent-encoding")
            }
            items.append(QueryItem(name: decodedName, value: decodedValue))
        }
        self.method = method
        self.target = target
        self.path = String(rawPath)
        self.pathSegments = segments
        self.queryItems = items
        self.headers = headers
        self.body = body
    }

    /// The first value of query parameter `name`, if present.
    public func query(_ name: String) -> String? {
        queryItems.first { $0.name == name }?.value
    }

    /// Every value of query parameter `name`, in order (`?tag=a&tag=b`).
    public func queryValues(_ name: String) -> [String] {
        queryItems.filter { $0.name == name }.map(\.value)
    }

    /// The body decoded as JSON; a malformed body becomes a 400 `invalid_json`
    /// whose message says where the problem is but not what the bytes held.
    public func decodeJSON<Value: Decodable>(_ type: Value.Type = Value.self) throws(HTTPError) -> Value {
        do {
            return try JSONCoding.decode(type, from: body)
        } catch {
            throw .badRequest(JSONCoding.explain(error), code: "invalid_json")
        }
    }
}

/// Percent-decoding (RFC 3986 §2.1) into UTF-8 strings.
enum PercentEncoding {
    /// The decoded text, or nil for a truncated or non-hex escape or bytes
    /// that are not UTF-8.
    static func decode(_ text: Substring, plusAsSpace: Bool) -> String? {
        let utf8 = Array(text.utf8)
        if !utf8.contains(UInt8(ascii: "%")) && !(plusAsSpace && utf8.contains(UInt8(ascii: "+"))) {
            return String(text)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var index = 0
        while index < utf8.count {
            let byte = utf8[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < utf8.count,
                      let high = hexValue(utf8[index + 1]), let low = hexValue(utf8[index + 2])
                else { return nil }
                bytes.append(high << 4 | low)
                index += 3
            } else if plusAsSpace && byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
                index += 1
            } else {
                bytes.append(byte)
                index += 1
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

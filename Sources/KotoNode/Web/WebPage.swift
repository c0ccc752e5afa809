import Foundation
import KotoHTTP

/// The web page at `/` and its two assets, the script and the styles. They are string literals in the
/// binary (`WebPage+HTML`, `+CSS`, `+Script…`), so the daemon serves them
/// with no files beside it and no build step beyond the Swift build. No
/// login: the page holds nothing but code; its data comes from the API with
/// the token the person pastes.
enum WebPage {
    /// The page's three languages; the first is the default.
    static let languages = ["fi", "sv", "en"]

    /// A strict policy: scripts, styles and requests from this origin only,
    /// so the HTML has no inline script or style and the page cannot be framed.
    static let contentSecurityPolicy =
        "default-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'; frame-ancestors 'none'"

    static func register(in router: inout Router) {
        router.get("/") { request in
            let language = preferredLanguage(request.headers["Accept-Language"])
            return respond(pages[language]!, type: "text/html; charset=utf-8", to: request,
                           extra: ["Content-Language": language, "Vary": "Accept-Language"])
        }
        router.get("/assets/app.css") { request in respond(style, type: "text/css; charset=utf-8", to: request) }
        router.get("/assets/app.js") { request in respond(script, type: "text/javascript; charset=utf-8", to: request) }
    }

    /// The page's HTML with `lang` set for each language, so the first paint
    /// and the script's default follow the browser's `Accept-Language`.
    static let pages: [String: Asset] = Dictionary(uniqueKeysWithValues: languages.map {
        ($0, Asset(html.replacingOccurrences(of: "{{lang}}", with: $0)))
    })
    static let style = Asset(css)
    /// The script's parts in order: helpers and strings first, the views after.
    static let script = Asset([scriptCore, scriptStrings, scriptRecords, scriptReports, scriptConflicts, scriptSync, scriptOffice,
                               scriptStart].joined(separator: "\n"))

    /// One asset's bytes and the entity tag that lets a browser revalidate it cheaply.
    struct Asset: Sendable {
        let bytes: [UInt8]
        let etag: String

        init(_ text: String) {
            bytes = Array(text.utf8)
            // FNV-1a: stable across runs (Swift's Hasher is seeded per process).
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            etag = "\"\(String(hash, radix: 16))\""
        }
    }

    /// `no-cache`: the browser keeps a copy but asks each time, so a new
    /// daemon version is never hidden behind a stale script.
    static func respond(_ asset: Asset, type: String, to request: HTTPRequest, extra: HTTPHeaders = [:]) -> HTTPResponse {
        var headers = extra
        headers["Cache-Control"] = "no-cache"
        headers["ETag"] = asset.etag
        headers["Content-Security-Policy"] = contentSecurityPolicy
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        let tags = request.headers.values(for: "If-None-Match").flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        if tags.contains(asset.etag) || tags.contains("*") {
            return HTTPResponse(status: 304, headers: headers)
        }
        headers["Content-Type"] = type
        return HTTPResponse(status: .ok, headers: headers, body: asset.bytes)
    }

    /// The page language `Accept-Language` prefers (highest q, then order), else Finnish.
    static func preferredLanguage(_ header: String?) -> String {
        guard let header else { return languages[0] }
        var best: (language: String, quality: Double)?
        for item in header.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let tag = parts.first?.lowercased(), !tag.isEmpty else { continue }
            var quality = 1.0
            for parameter in parts.dropFirst() where parameter.lowercased().hasPrefix("q=") {
                quality = Double(parameter.dropFirst(2)) ?? 0
            }
            let language = String(tag.split(separator: "-").first ?? "")
            guard languages.contains(language), quality > 0 else { continue }
            if best == nil || quality > best!.quality { best = (language, quality) }
        }
        return best?.language ?? languages[0]
    }
}

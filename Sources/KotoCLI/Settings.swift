import Foundation

/// Where and how to reach the daemon: the command line first, then the
/// environment (`KOTOSYNC_URL`, `KOTOSYNC_TOKEN`, `KOTOSYNC_CACERT`), then defaults.
struct Settings: Sendable {
    static let defaultURL = "http://127.0.0.1:7100"
    static let defaultTimeoutSeconds = 30.0

    /// Without a trailing slash.
    var baseURL: String
    /// The bearer token; never printed.
    var token: String?
    var caBundle: String?
    var timeoutSeconds: Double
    /// Sent as `Accept-Language` when the locale is one the reports speak.
    var acceptLanguage: String?

    static func resolve(_ options: GlobalOptions, environment: [String: String]) throws(CLIError) -> Settings {
        let url: String
        if let given = options.url {
            url = given
        } else if let fromEnvironment = environment["KOTOSYNC_URL"], !fromEnvironment.isEmpty {
            try checkURL(fromEnvironment, topic: nil, source: "KOTOSYNC_URL")
            url = fromEnvironment
        } else {
            url = defaultURL
        }
        var base = Substring(url)
        while base.hasSuffix("/") { base = base.dropLast() }
        let token: String?
        if let file = options.tokenFile {
            token = try TokenFile.read(file)
        } else if let value = environment["KOTOSYNC_TOKEN"], !value.isEmpty {
            token = try TokenFile.check(value, source: "KOTOSYNC_TOKEN")
        } else {
            token = nil
        }
        let caBundle = options.caBundle ?? environment["KOTOSYNC_CACERT"].flatMap { $0.isEmpty ? nil : $0 }
        return Settings(baseURL: String(base), token: token, caBundle: caBundle,
                        timeoutSeconds: options.timeoutSeconds ?? defaultTimeoutSeconds,
                        acceptLanguage: localeLanguage(environment))
    }

    /// Only http and https URLs with a host; anything else is a usage error.
    static func checkURL(_ url: String, topic: String?, source: String = "--url") throws(CLIError) {
        let lowered = url.lowercased()
        let rest: Substring
        if lowered.hasPrefix("http://") {
            rest = url.dropFirst(7)
        } else if lowered.hasPrefix("https://") {
            rest = url.dropFirst(8)
        } else {
            throw .usage("\(source) must be an http:// or https:// URL, such as \(defaultURL)", topic: topic)
        }
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.isEmpty, !url.contains(where: { $0.isWhitespace || $0.isNewline }), !url.contains("?"), !url.contains("#") else {
            throw .usage("\(source) must be an http:// or https:// URL with a host and no query, such as \(defaultURL)", topic: topic)
        }
    }

    /// fi, sv or en from `LC_ALL`, `LC_MESSAGES` or `LANG` (the first set), else nil.
    static func localeLanguage(_ environment: [String: String]) -> String? {
        for name in ["LC_ALL", "LC_MESSAGES", "LANG"] {
            guard let value = environment[name], !value.isEmpty else { continue }
            let language = value.prefix { $0.isLetter }.lowercased()
            return ["fi", "sv", "en"].contains(language) ? language : nil
        }
        return nil
    }
}

/// The credential: from a file only its owner can read (refused otherwise,
/// as ssh refuses an open private key), or from the environment.
enum TokenFile {
    static func read(_ path: String) throws(CLIError) -> String {
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: path)
        } catch {
            throw .failure("cannot read the token file \(Sentence.printable(path)): it does not exist or is not accessible")
        }
        if let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0 {
            throw .failure("the token file \(Sentence.printable(path)) is open to group or others (mode \(String(mode & 0o777, radix: 8))); "
                + "make it private with `chmod 600 \(Sentence.printable(path))`")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .failure("cannot read the token file \(Sentence.printable(path))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .failure("the token file \(Sentence.printable(path)) is not UTF-8 text")
        }
        return try check(text, source: "the token file \(Sentence.printable(path))")
    }

    /// The token without surrounding white space; it must be one word of printable ASCII.
    static func check(_ text: String, source: String) throws(CLIError) -> String {
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw .failure("\(source) holds no token") }
        guard token.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw .failure("\(source) must hold one token: printable ASCII without spaces or line breaks")
        }
        return token
    }
}

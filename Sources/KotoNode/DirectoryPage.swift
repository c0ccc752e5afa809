import Foundation
import KotoCore
import KotoStore

/// The directory as one self-contained HTML page: no script, no outside
/// resource, a filter form that works with plain GET, the language switch
/// as links, and a print stylesheet. Every value from a record is escaped.
struct DirectoryPage {
    let query: DirectoryQuery
    let entries: [DirectoryEntry]
    let registry: MunicipalityRegistry
    let languagesInUse: Set<String>
    let generatedAt: Date

    private var labels: DirectoryLabels { DirectoryLabels(query.language) }

    func render() -> String {
        var html = """
            <!doctype html>
            <html lang="\(query.language.rawValue)">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(HTML.escape(labels.title))</title>
            <style>\(Self.stylesheet)</style>
            </head>
            <body>
            <header>

            """
        html += languageSwitch()
        html += "<h1>\(HTML.escape(labels.title))</h1>\n<p class=\"intro\">\(HTML.escape(labels.intro))</p>\n</header>\n<main>\n"
        html += form()
        if query.problems.isEmpty {
            html += results()
        } else {
            html += "<div class=\"problems\" id=\"problems\" role=\"alert\">\n<h2>\(HTML.escape(labels.problemsHeading))</h2>\n<ul>\n"
            for problem in query.problems { html += "<li>\(HTML.escape(labels.problem(problem)))</li>\n" }
            html += "</ul>\n</div>\n"
        }
        html += "</main>\n<footer>\n<p>\(HTML.escape(labels.retrieved)) <time datetime=\"\(Self.isoTime(generatedAt))\">"
        html += "\(HTML.escape(Self.localTime(generatedAt)))</time></p>\n</footer>\n</body>\n</html>\n"
        return html
    }

    private func languageSwitch() -> String {
        var html = "<nav class=\"languages\" aria-label=\"\(HTML.escape(labels.languageSwitch))\">\n<ul>\n"
        for language in DirectoryLanguage.allCases {
            let current = language == query.language ? " aria-current=\"page\"" : ""
            html += "<li><a href=\"/directory\(HTML.escape(query.queryString(language: language)))\" lang=\"\(language.rawValue)\" "
                + "hreflang=\"\(language.rawValue)\"\(current)>\(HTML.escape(language.ownName))</a></li>\n"
        }
        return html + "</ul>\n</nav>\n"
    }

    private func form() -> String {
        let invalid = Set(query.problems.map(\.field))
        func state(_ field: String) -> String {
            invalid.contains(field) ? " aria-invalid=\"true\" aria-describedby=\"problems\"" : ""
        }
        func option(_ value: String, _ label: String, selected: Bool, lang: String? = nil) -> String {
            "<option value=\"\(HTML.escape(value))\"\(selected ? " selected" : "")\(lang.map { " lang=\"\($0)\"" } ?? "")>\(HTML.escape(label))</option>\n"
        }
        var html = "<section aria-labelledby=\"filters-heading\">\n<h2 id=\"filters-heading\">\(HTML.escape(labels.filtersHeading))</h2>\n"
        html += "<form method=\"get\" action=\"/directory\">\n"
        html += "<input type=\"hidden\" name=\"lang\" value=\"\(query.language.rawValue)\">\n"

        html += "<div class=\"field\"><label for=\"municipality\">\(HTML.escape(labels.municipalityFilter))</label>\n"
        html += "<select id=\"municipality\" name=\"municipality\"\(state("municipality"))>\n"
        html += option("", labels.allMunicipalities, selected: query.municipality == nil)
        let municipalities = registry.all.map { ($0.code, labels.municipalityName($0)) }
            .sorted { DirectoryLabels.sortKey($0.1) < DirectoryLabels.sortKey($1.1) }
        for (code, name) in municipalities {
            html += option(String(code), name, selected: query.municipality == code)
        }
        html += "</select></div>\n"

        html += "<div class=\"field\"><label for=\"language\">\(HTML.escape(labels.languageFilter))</label>\n"
        html += "<select id=\"language\" name=\"language\"\(state("language"))>\n"
        html += option("", labels.allLanguages, selected: query.serviceLanguage == nil)
        let languages = languagesInUse.union(query.serviceLanguage.map { [$0] } ?? []).map { ($0, labels.languageName($0)) }
            .sorted { (DirectoryLabels.sortKey($0.1), $0.0) < (DirectoryLabels.sortKey($1.1), $1.0) }
        for (code, name) in languages {
            html += option(code, name, selected: query.serviceLanguage == code)
        }
        html += "</select></div>\n"

        html += "<div class=\"field\"><label for=\"category\">\(HTML.escape(labels.categoryFilter))</label>\n"
        html += "<select id=\"category\" name=\"category\"\(state("category"))>\n"
        html += option("", labels.allCategories, selected: query.category == nil)
        let categories = ServiceCategory.allCases.map { ($0, labels.category($0.rawValue)) }
            .sorted { DirectoryLabels.sortKey($0.1) < DirectoryLabels.sortKey($1.1) }
        for (category, name) in categories {
            html += option(category.rawValue, name, selected: query.category == category)
        }
        html += "</select></div>\n"

        html += "<div class=\"field\"><label for=\"q\">\(HTML.escape(labels.textFilter))</label>\n"
        let describedBy = invalid.contains("q") ? "q-hint problems" : "q-hint"
        html += "<input type=\"search\" id=\"q\" name=\"q\" value=\"\(HTML.escape(query.text ?? ""))\" maxlength=\"\(DirectoryQuery.maxTextLength)\" "
            + "aria-describedby=\"\(describedBy)\"\(invalid.contains("q") ? " aria-invalid=\"true\"" : "")>\n"
        html += "<p class=\"hint\" id=\"q-hint\">\(HTML.escape(labels.textHint))</p></div>\n"

        html += "<div class=\"actions\"><button type=\"submit\">\(HTML.escape(labels.search))</button>\n"
        html += "<a class=\"clear\" href=\"/directory?lang=\(query.language.rawValue)\">\(HTML.escape(labels.clear))</a></div>\n"
        return html + "</form>\n</section>\n"
    }

    /// The active filters as a sentence: shown on paper, where the form is not.
    private func filtersSummary() -> String {
        var parts: [String] = []
        if let code = query.municipality, let municipality = registry.municipality(code: code) {
            parts.append("\(labels.municipalityFilter): \(labels.municipalityName(municipality))")
        }
        if let language = query.serviceLanguage { parts.append("\(labels.languageFilter): \(labels.languageName(language))") }
        if let category = query.category { parts.append("\(labels.categoryFilter): \(labels.category(category.rawValue))") }
        if let text = query.text { parts.append("\(labels.textFilter): \u{201C}\(text)\u{201D}") }
        let summary = parts.isEmpty ? labels.noFilters : "\(labels.activeFilters): " + parts.joined(separator: "; ")
        return "<p class=\"filters-summary\">\(HTML.escape(summary))</p>\n"
    }

    private func results() -> String {
        var html = filtersSummary()
        html += "<p class=\"count\" role=\"status\">\(HTML.escape(labels.count(entries.count)))</p>\n"
        guard !entries.isEmpty else { return html + "<p class=\"none\">\(HTML.escape(labels.noResults))</p>\n" }
        html += "<ul class=\"services\">\n"
        for entry in entries { html += service(entry) }
        return html + "</ul>\n"
    }

    private func service(_ entry: DirectoryEntry) -> String {
        let service = entry.service
        let anchor = "service-\(service.id.lowercased)"
        var html = "<li class=\"service\"><article aria-labelledby=\"\(anchor)\">\n"
        html += "<h2 id=\"\(anchor)\"\(attribute(lang: entry.nameLanguage))>\(HTML.escape(entry.name))</h2>\n"
        if let other = entry.otherName {
            html += "<p class=\"other-name\" lang=\"\(other.language)\">\(HTML.escape(other.text))</p>\n"
        }
        html += "<dl>\n"
        func row(_ key: String, _ value: String, raw: Bool = false) {
            html += "<dt>\(HTML.escape(labels.column(key)))</dt><dd>\(raw ? value : HTML.escape(value))</dd>\n"
        }
        let fullClass = entry.full ? " class=\"full\"" : ""
        html += "<dt>\(HTML.escape(labels.column("capacityStatus")))</dt><dd\(fullClass)>\(HTML.escape(labels.capacityStatus(full: entry.full)))</dd>\n"
        row("providerName", service.providerName)
        row("providerType", labels.providerType(service.providerType))
        row("category", labels.category(service.category))
        if !entry.languages.isEmpty { row("languages", entry.languages.map(\.name).joined(separator: ", ")) }
        if !entry.municipalities.isEmpty { row("municipalities", entry.municipalities.map(\.name).joined(separator: ", ")) }
        if service.studyPath != StudyPath.none.rawValue { row("studyPath", labels.studyPath(service.studyPath)) }
        if let capacity = service.capacity { row("capacity", String(capacity)) }
        for (key, value) in [("startDate", service.startDate), ("endDate", service.endDate)] {
            guard let value else { continue }
            row(key, "<time datetime=\"\(HTML.escape(value))\">\(HTML.escape(labels.date(value)))</time>", raw: true)
        }
        if let contact = service.contact, !contact.isEmpty { row("contact", contact) }
        return html + "</dl>\n</article></li>\n"
    }

    private func attribute(lang: String) -> String {
        lang == query.language.rawValue ? "" : " lang=\"\(lang)\""
    }

    private static func isoTime(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

    /// `1.9.2026 14.05` in the region's time zone.
    private static func localTime(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Europe/Helsinki") ?? .current
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        let minute = parts.minute ?? 0
        return "\(parts.day ?? 1).\(parts.month ?? 1).\(parts.year ?? 1970) \(parts.hour ?? 0).\(minute < 10 ? "0" : "")\(minute)"
    }

    /// Dark text on white, links and controls well above WCAG AA contrast; the print rules drop the form and links' colour.
    static let stylesheet = """
        :root{color-scheme:light}
        *{box-sizing:border-box}
        body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;font-size:1rem;line-height:1.5;color:#1b1b1b;background:#fff}
        header,main,footer{max-width:62rem;margin:0 auto;padding:0 1rem}
        header{padding-top:.75rem}
        h1{font-size:1.8rem;margin:.25rem 0}
        h2{font-size:1.2rem}
        a{color:#0a4a85}
        a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible{outline:3px solid #b34700;outline-offset:2px}
        .languages ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:1rem;justify-content:flex-end}
        .languages a[aria-current]{font-weight:700;text-decoration:none;color:#1b1b1b}
        form{display:grid;grid-template-columns:repeat(auto-fit,minmax(13rem,1fr));gap:.75rem 1rem;align-items:start;padding:1rem;border:1px solid #767676;border-radius:4px;background:#f4f4f4}
        label{display:block;font-weight:600}
        select,input[type=search]{width:100%;font:inherit;padding:.4rem;border:1px solid #595959;border-radius:3px;background:#fff;color:#1b1b1b}
        [aria-invalid=true]{border:2px solid #a4001d}
        .actions{align-self:end}
        button{font:inherit;padding:.45rem 1.2rem;margin-right:1rem;background:#0a4a85;color:#fff;border:0;border-radius:3px;cursor:pointer}
        .hint{font-size:.875rem;color:#404040;margin:.2rem 0 0}
        .problems{border:2px solid #a4001d;background:#fff4f4;padding:.75rem 1rem;margin:1rem 0}
        .problems h2{margin:0;color:#a4001d}
        .count{font-weight:600}
        .services{list-style:none;padding:0;margin:0}
        .service{border-top:1px solid #767676;padding:.75rem 0}
        .service h2{font-size:1.25rem;margin:0}
        .other-name{margin:0;color:#404040}
        dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:.5rem 0 0}
        dt{font-weight:600}
        dd{margin:0;overflow-wrap:anywhere}
        .full{font-weight:700;color:#a4001d}
        .filters-summary{display:none}
        footer{font-size:.875rem;color:#404040;padding:1rem 1rem 2rem}
        @media print{
        @page{margin:15mm}
        body{font-size:10pt;color:#000;background:#fff}
        .languages,section[aria-labelledby=filters-heading]{display:none}
        .filters-summary{display:block}
        header,main,footer{max-width:none;padding:0}
        a{color:#000;text-decoration:none}
        .service{break-inside:avoid;page-break-inside:avoid;border-top:1px solid #000}
        .full,.other-name,footer{color:#000}
        }
        """
}

/// Escaping for HTML text and attribute values (quoted with `"`).
enum HTML {
    static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }
}

/// One metric family of the Prometheus text exposition format 0.0.4: its
/// `# HELP` and `# TYPE` lines and its samples. Names are fixed in the code;
/// label values may come from anywhere and are escaped when written.
struct MetricFamily: Sendable {
    enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    let name: String
    let help: String
    let kind: Kind
    var samples: [MetricSample]

    init(_ name: String, _ kind: Kind, help: String, samples: [MetricSample] = []) {
        precondition(MetricsExposition.isValidName(name, colons: true), "invalid metric name \(name)")
        self.name = name
        self.kind = kind
        self.help = help
        self.samples = samples
    }

    /// A gauge or counter with one unlabelled sample.
    init(_ name: String, _ kind: Kind, help: String, value: Double) {
        self.init(name, kind, help: help, samples: [MetricSample(value: value)])
    }
}

/// One line of a family: `suffix` (`_bucket`, `_sum`, `_count` of a
/// histogram, else empty) goes after the family's name.
struct MetricSample: Sendable {
    var suffix = ""
    var labels: [(name: String, value: String)] = []
    var value: Double

    init(suffix: String = "", labels: [(name: String, value: String)] = [], value: Double) {
        for label in labels { precondition(MetricsExposition.isValidName(label.name, colons: false), "invalid label name \(label.name)") }
        self.suffix = suffix
        self.labels = labels
        self.value = value
    }
}

/// A histogram's state: observations counted per bucket (each upper bound
/// inclusive, as Prometheus' `le` says), their sum and their count.
struct Histogram: Sendable {
    /// Upper bounds, ascending; the `+Inf` bucket is implied.
    let bounds: [Double]
    /// Observations per bucket, not cumulative; the last one is past every bound.
    private(set) var counts: [UInt64]
    private(set) var sum: Double = 0
    private(set) var count: UInt64 = 0

    init(bounds: [Double]) {
        precondition(!bounds.isEmpty && zip(bounds, bounds.dropFirst()).allSatisfy { $0 < $1 }, "histogram bounds must ascend")
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count + 1)
    }

    mutating func observe(_ value: Double) {
        counts[bounds.firstIndex { value <= $0 } ?? bounds.count] += 1
        sum += value
        count += 1
    }

    /// `_bucket` lines with cumulative counts (the `+Inf` one equals `_count`), then `_sum` and `_count`.
    func samples(labels: [(name: String, value: String)] = []) -> [MetricSample] {
        var samples: [MetricSample] = []
        var cumulative: UInt64 = 0
        for (index, bound) in (bounds + [.infinity]).enumerated() {
            cumulative += counts[index]
            samples.append(MetricSample(suffix: "_bucket", labels: labels + [("le", MetricsExposition.format(bound))],
                                        value: Double(cumulative)))
        }
        samples.append(MetricSample(suffix: "_sum", labels: labels, value: sum))
        samples.append(MetricSample(suffix: "_count", labels: labels, value: Double(count)))
        return samples
    }
}

/// A counter per combination of label values.
struct LabelledCounter: Sendable {
    let labelNames: [String]
    private(set) var values: [[String]: Double] = [:]

    init(_ labelNames: [String]) { self.labelNames = labelNames }

    mutating func add(_ labelValues: [String], by amount: Double = 1) {
        precondition(labelValues.count == labelNames.count, "label values do not fit \(labelNames)")
        values[labelValues, default: 0] += amount
    }

    /// The family, every series sorted by its label values; `zeros` are
    /// shown as 0 until counted, so `rate()` sees them from the start.
    func family(_ name: String, help: String, zeros: [[String]] = []) -> MetricFamily {
        var all = values
        for labelValues in zeros where all[labelValues] == nil { all[labelValues] = 0 }
        let samples = all.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { labelValues, value in
            MetricSample(labels: Array(zip(labelNames, labelValues)), value: value)
        }
        return MetricFamily(name, .counter, help: help, samples: samples)
    }
}

/// A histogram per combination of label values, all with the same bounds.
struct LabelledHistogram: Sendable {
    let labelNames: [String]
    let bounds: [Double]
    private(set) var series: [[String]: Histogram] = [:]

    init(_ labelNames: [String], bounds: [Double]) {
        self.labelNames = labelNames
        self.bounds = bounds
    }

    mutating func observe(_ value: Double, _ labelValues: [String]) {
        precondition(labelValues.count == labelNames.count, "label values do not fit \(labelNames)")
        series[labelValues, default: Histogram(bounds: bounds)].observe(value)
    }

    func family(_ name: String, help: String) -> MetricFamily {
        let samples = series.sorted { $0.key.lexicographicallyPrecedes($1.key) }.flatMap { labelValues, histogram in
            histogram.samples(labels: Array(zip(labelNames, labelValues)))
        }
        return MetricFamily(name, .histogram, help: help, samples: samples)
    }
}

/// Writes families in the Prometheus text exposition format, version 0.0.4.
enum MetricsExposition {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static func render(_ families: [MetricFamily]) -> String {
        var text = ""
        for family in families {
            text += "# HELP \(family.name) \(escapeHelp(family.help))\n"
            text += "# TYPE \(family.name) \(family.kind.rawValue)\n"
            for sample in family.samples {
                text += family.name + sample.suffix
                if !sample.labels.isEmpty {
                    text += "{" + sample.labels.map { "\($0.name)=\"\(escapeLabelValue($0.value))\"" }.joined(separator: ",") + "}"
                }
                text += " \(format(sample.value))\n"
            }
        }
        return text
    }

    /// In `# HELP`: backslash and line feed escaped.
    static func escapeHelp(_ text: String) -> String { escape(text, quote: false) }

    /// In a label value: backslash, double quote and line feed escaped.
    static func escapeLabelValue(_ text: String) -> String { escape(text, quote: true) }

    private static func escape(_ text: String, quote: Bool) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\"" where quote: escaped += "\\\""
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }

    /// Whole numbers without a fraction, others in the shortest form that
    /// reads back the same; `+Inf`, `-Inf` and `NaN` as Prometheus spells them.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), value.magnitude < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*` for metric names, the same without colons for label names.
    static func isValidName(_ name: String, colons: Bool) -> Bool {
        guard let first = name.utf8.first else { return false }
        func allowed(_ byte: UInt8, digits: Bool) -> Bool {
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || byte == 0x5F || (colons && byte == 0x3A)
                || (digits && byte >= 0x30 && byte <= 0x39)
        }
        return allowed(first, digits: false) && name.utf8.dropFirst().allSatisfy { allowed($0, digits: true) }
    }
}

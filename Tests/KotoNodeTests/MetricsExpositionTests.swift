import KotoCore
import KotoHTTP
import KotoStore
import Testing
@testable import KotoNode

/// A scrape read back: every sample by name and labels, and each family's
/// `# HELP` and `# TYPE`. Label values are unescaped as Prometheus reads
/// them, so a test compares what a scraper would see.
struct Scrape {
    struct Sample: Equatable {
        let name: String
        let labels: [String: String]
        let value: Double
    }

    private(set) var samples: [Sample] = []
    private(set) var types: [String: String] = [:]
    private(set) var helps: [String: String] = [:]

    init(_ text: String) throws {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let rest = line.dropFirst(7)
                let name = String(rest.prefix { $0 != " " })
                let value = String(rest.dropFirst(name.count + 1))
                if line.hasPrefix("# HELP ") { helps[name] = value } else { types[name] = value }
                continue
            }
            samples.append(try Self.sample(Substring(line)))
        }
    }

    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    private static func sample(_ line: Substring) throws -> Sample {
        var rest = line[...]
        let name = String(rest.prefix { $0 != "{" && $0 != " " })
        rest = rest.dropFirst(name.count)
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                let labelName = String(rest.prefix { $0 != "=" })
                rest = rest.dropFirst(labelName.count)
                guard rest.hasPrefix("=\"") else { throw Malformed(description: "label \(labelName) in \(line)") }
                rest = rest.dropFirst(2)
                var value = ""
                while let character = rest.popFirst(), character != "\"" {
                    if character == "\\" {
                        switch rest.popFirst() {
                        case "n": value.append("\n")
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        default: throw Malformed(description: "escape in \(line)")
                        }
                    } else {
                        value.append(character)
                    }
                }
                labels[labelName] = value
                if rest.first == "," { rest = rest.dropFirst() }
                guard !rest.isEmpty else { throw Malformed(description: "unterminated labels in \(line)") }
            }
            rest = rest.dropFirst()
        }
        guard rest.first == " " else { throw Malformed(description: "no value in \(line)") }
        let text = rest.dropFirst()
        let value: Double? = switch text {
        case "+Inf": .infinity
        case "-Inf": -.infinity
        default: Double(text)
        }
        guard let value else { throw Malformed(description: "value \(text) in \(line)") }
        return Sample(name: name, labels: labels, value: value)
    }

    /// The value of the one sample with exactly these labels, or nil.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// Every sample of `name` (with any labels).
    func all(_ name: String) -> [Sample] { samples.filter { $0.name == name } }
}

/// The text exposition format itself: lines, escaping, histograms.
@Suite struct MetricsExpositionTests {
    @Test func familiesRenderHelpTypeAndSamples() {
        let text = MetricsExposition.render([
            MetricFamily("kotosync_example_total", .counter, help: "An example.",
                         samples: [MetricSample(labels: [("peer", "larsmo"), ("result", "ok")], value: 3)]),
            MetricFamily("kotosync_example_seconds", .gauge, help: "Another.", value: 0.25),
        ])
        #expect(text == """
            # HELP kotosync_example_total An example.
            # TYPE kotosync_example_total counter
            kotosync_example_total{peer="larsmo",result="ok"} 3
            # HELP kotosync_example_seconds Another.
            # TYPE kotosync_example_seconds gauge
            kotosync_example_seconds 0.25

            """)
    }

    @Test func labelValuesEscapeBackslashQuoteAndNewline() throws {
        let raw = #"C:\dir "quoted""# + "\nnext line åäö"
        let text = MetricsExposition.render([
            MetricFamily("kotosync_escape", .gauge, help: "Back\\slash and\nnewline, \"quotes\" stay.",
                         samples: [MetricSample(labels: [("value", raw)], value: 1)]),
        ])
        #expect(text.contains(#"kotosync_escape{value="C:\\dir \"quoted\"\nnext line åäö"} 1"#))
        // In HELP only backslash and newline are escaped.
        #expect(text.contains(#"# HELP kotosync_escape Back\\slash and\nnewline, "quotes" stay."#))
        #expect(text.split(separator: "\n").count == 3)
        // A reader gets the original value back.
        #expect(try Scrape(text).value("kotosync_escape", ["value": raw]) == 1)
    }

    @Test(arguments: [
        (0.0, "0"), (3.0, "3"), (-2.0, "-2"), (0.25, "0.25"), (0.001, "0.001"), (1e-05, "1e-05"), (1718000000.123, "1718000000.123"),
        (Double.infinity, "+Inf"), (-Double.infinity, "-Inf"), (Double.nan, "NaN"), (1e20, "1e+20"),
    ])
    func valuesFormatAsPrometheusReadsThem(value: Double, text: String) {
        #expect(MetricsExposition.format(value) == text)
    }

    @Test func histogramBucketsAreCumulativeWithInfSumAndCount() {
        var histogram = Histogram(bounds: [1, 2, 5])
        for value in [0.5, 1, 2, 100] { histogram.observe(value) }
        var family = MetricFamily("kotosync_example_duration_seconds", .histogram, help: "Durations.")
        family.samples = histogram.samples(labels: [("route", "/v1/{kind}")])
        #expect(MetricsExposition.render([family]) == """
            # HELP kotosync_example_duration_seconds Durations.
            # TYPE kotosync_example_duration_seconds histogram
            kotosync_example_duration_seconds_bucket{route="/v1/{kind}",le="1"} 2
            kotosync_example_duration_seconds_bucket{route="/v1/{kind}",le="2"} 3
            kotosync_example_duration_seconds_bucket{route="/v1/{kind}",le="5"} 3
            kotosync_example_duration_seconds_bucket{route="/v1/{kind}",le="+Inf"} 4
            kotosync_example_duration_seconds_sum{route="/v1/{kind}"} 103.5
            kotosync_example_duration_seconds_count{route="/v1/{kind}"} 4

            """)
    }

    @Test func emptyHistogramHasZeroBucketsAndCount() {
        let samples = Histogram(bounds: [0.1, 1]).samples()
        #expect(samples.map(\.suffix) == ["_bucket", "_bucket", "_bucket", "_sum", "_count"])
        #expect(samples.map(\.value) == [0, 0, 0, 0, 0])
        #expect(samples.last(where: { $0.suffix == "_bucket" })?.labels.last?.value == "+Inf")
    }

    @Test func labelledCounterSortsSeriesAndShowsDeclaredZeros() {
        var counter = LabelledCounter(["peer", "result"])
        counter.add(["nykarleby", "ok"])
        counter.add(["larsmo", "ok"], by: 2)
        counter.add(["nykarleby", "ok"])
        let family = counter.family("kotosync_example_total", help: "x", zeros: [["larsmo", "error"], ["larsmo", "ok"]])
        #expect(family.samples.map { $0.labels.map(\.value) } == [["larsmo", "error"], ["larsmo", "ok"], ["nykarleby", "ok"]])
        #expect(family.samples.map(\.value) == [0, 2, 2])
    }

    @Test func namesFollowThePrometheusGrammar() {
        #expect(MetricsExposition.isValidName("kotosync_peer_lag_seconds", colons: true))
        #expect(MetricsExposition.isValidName("job:kotosync:rate5m", colons: true))
        #expect(!MetricsExposition.isValidName("job:rate", colons: false))
        #expect(!MetricsExposition.isValidName("7days", colons: true))
        #expect(!MetricsExposition.isValidName("peer-lag", colons: true))
        #expect(!MetricsExposition.isValidName("", colons: true))
    }

    /// Requests are counted by route pattern, never by path; an unknown
    /// method or no route gets a fixed label, so clients cannot add series.
    @Test func requestLabelsAreBounded() throws {
        let metrics = NodeMetrics()
        metrics.requestHandled(Router.Observation(method: "BREW", route: nil, status: .notFound, duration: .milliseconds(2)))
        metrics.requestHandled(Router.Observation(method: .get, route: "/v1/clients/{id}", status: .ok, duration: .milliseconds(3),
                                                  requestBytes: 120, responseBytes: 900))
        let scrape = try Scrape(MetricsExposition.render(metrics.families(peers: [])))
        #expect(scrape.value("kotosync_http_received_bytes_total", ["method": "GET", "route": "/v1/clients/{id}"]) == 120)
        #expect(scrape.value("kotosync_http_sent_bytes_total", ["method": "GET", "route": "/v1/clients/{id}"]) == 900)
        #expect(scrape.value("kotosync_http_requests_total", ["method": "other", "route": "unmatched", "status": "404"]) == 1)
        #expect(scrape.value("kotosync_http_requests_total", ["method": "GET", "route": "/v1/clients/{id}", "status": "200"]) == 1)
        #expect(scrape.value("kotosync_http_request_duration_seconds_count", ["method": "GET", "route": "/v1/clients/{id}"]) == 1)
        #expect(scrape.value("kotosync_http_request_duration_seconds_sum", ["method": "GET", "route": "/v1/clients/{id}"]) == 0.003)
        #expect(scrape.value("kotosync_http_request_duration_seconds_bucket",
                             ["method": "GET", "route": "/v1/clients/{id}", "le": "0.0025"]) == 0)
        #expect(scrape.value("kotosync_http_request_duration_seconds_bucket",
                             ["method": "GET", "route": "/v1/clients/{id}", "le": "0.005"]) == 1)
    }

    @Test func refusalReasonsComeFromTheStoreError() {
        #expect(NodeMetrics.Refusal(ReplicaStoreError.batchRefused("too far ahead")) == .batchRefused)
        #expect(NodeMetrics.Refusal(ReplicaStoreError.forked(Dot(origin: "larsmo", seq: 1))) == .fork)
        #expect(NodeMetrics.Refusal(ReplicaStoreError.notMember("oravais")) == .notMember)
        #expect(NodeMetrics.Refusal(ReplicaStoreError.corrupt("x")) == .error)
        #expect(NodeMetrics.Refusal(CancellationError()) == .error)
    }
}

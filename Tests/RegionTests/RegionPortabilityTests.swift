import Foundation
import KotoCore
import KotoHTTP
import Testing

extension Region {
    /// The real `kotosync` against a real `kotosyncd`: a Windows-1252
    /// spreadsheet imports (dry run first), re-runs idempotently, an exported
    /// list re-imports unchanged, and the Koto-digi and subject exports
    /// answer. Failure messages show exit status and standard error only.
    @Suite("Region: import and export")
    struct Portability {
        @Test("import a spreadsheet, re-run it, re-import an export; Koto-digi and subject exports")
        func importAndExport() async throws {
            try await withRegion(RegionOptions(nodes: ["jakobstad"], peers: ["jakobstad": []])) { region in
                let node = region["jakobstad"]
                let directory = region.directory
                let office = try #require(region.tokens.office(of: node.name))
                func cli(_ arguments: [String], token: String) async throws -> CLIRun {
                    try await runCLI(arguments, environment: ["KOTOSYNC_URL": node.url, "KOTOSYNC_TOKEN": token], in: directory)
                }
                func clientCount() async throws -> Int { try await node.list(.client).count }
                let before = try await clientCount()

                // "Asiakasnumero;Etunimi;Sukunimi;..." with "Äijä" in code page 1252, as plain "CSV" on a Finnish Windows.
                var sheet = Array("Asiakasnumero;Etunimi;Sukunimi;Syntymäaika;Kotoutumiskieli;Suunnitelman tila;Tila\r\n"
                    .unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
                sheet += Array("PORT-1;".utf8) + [0xC4, 0x69, 0x6A, 0xE4] + Array(";Henkil".utf8) + [0xF6] + Array(";17.5.1990;fi;none;new\r\n".utf8)
                sheet += Array("PORT-2;Testi;Malli;1985-03-02;sv;none;new\r\n".utf8)
                let file = "\(directory)/asiakkaat.csv"
                #expect(FileManager.default.createFile(atPath: file, contents: Data(sheet)))

                let dry = try await cli(["import", "clients", file, "--dry-run"], token: office)
                try #require(dry.status == 0, "\(dry.summary)")
                #expect(dry.output.contains("(csv, windows-1252)"))
                #expect(dry.output.contains("would create 2"))
                #expect(try await clientCount() == before, "a dry run writes nothing")

                let real = try await cli(["import", "clients", file, "--json"], token: office)
                try #require(real.status == 0, "\(real.summary)")
                #expect(real.json?["created"]?.int64Value == 2)
                #expect(try await clientCount() == before + 2)
                let first = try #require(real.json?["rows"]?.arrayValue?.first?["id"]?.stringValue)
                #expect(try await node.record(.client, first)?["fields"]?["givenName"] == .string("Äijä"))

                let again = try await cli(["import", "clients", file, "--json"], token: office)
                try #require(again.status == 0, "\(again.summary)")
                #expect(again.json?["created"]?.int64Value == 0)
                #expect(again.json?["unchanged"]?.int64Value == 2)
                #expect(try await clientCount() == before + 2, "a re-run creates nothing")

                // The node's own CSV export of the list imports back unchanged.
                let exported = "\(directory)/clients-export.csv"
                let export = try await cli(["export", "clients", "--out", exported], token: office)
                try #require(export.status == 0, "\(export.summary)")
                let reimport = try await cli(["import", "clients", exported, "--json"], token: office)
                try #require(reimport.status == 0, "\(reimport.summary)")
                #expect(reimport.json?["created"]?.int64Value == 0)
                #expect(reimport.json?["updated"]?.int64Value == 0)

                // A bad row: exit 1, the row and column named, the value not echoed, nothing written.
                let bad = "\(directory)/bad.csv"
                try writeFile("clientNumber;givenName;familyName;birthDate;integrationLanguage;planStatus;status\r\n"
                    + "PORT-3;Prov;Klient;1990-02-31;fi;none;new\r\n", to: bad)
                let refused = try await cli(["import", "clients", bad], token: office)
                #expect(refused.status == 1)
                #expect(refused.stderr.contains("row 2 birthDate: must be a date YYYY-MM-DD"), "\(refused.summary)")
                #expect(!refused.stderr.contains("1990-02-31"))
                #expect(try await clientCount() == before + 2)

                // Koto-digi: a CSV table with the documented columns.
                let koto = "\(directory)/koto-digi.csv"
                let kotoRun = try await cli(["export", "koto-digi", "--format", "csv", "--output", koto], token: office)
                try #require(kotoRun.status == 0, "\(kotoRun.summary)")
                let text = String(decoding: try #require(FileManager.default.contents(atPath: koto)), as: UTF8.self)
                #expect(text.hasPrefix("\u{FEFF}id;clientNumber;ownerMunicipality;givenName;familyName;birthDate;"))
                #expect(text.contains(first))

                // Subject export: the access log's lines, or a clear refusal where the node has none yet.
                let subject = "\(directory)/subject.json"
                let subjectRun = try await cli(["subject", "export", first, "--output", subject], token: region.tokens.coordinator)
                if subjectRun.status == 0 {
                    let document = try JSONValue.parse(Array(try #require(FileManager.default.contents(atPath: subject))))
                    #expect(document["client"]?["id"] == .string(first))
                    #expect(document["accessLog"]?.arrayValue != nil)
                } else {
                    #expect(subjectRun.status == 1)
                    #expect(subjectRun.stderr.contains("has no access log to list (GET /v1/audit/subject answered 404)"), "\(subjectRun.summary)")
                    #expect(!FileManager.default.fileExists(atPath: subject))
                    print("RegionPortability: this kotosyncd has no GET /v1/audit/subject yet; the subject export refused as it must")
                }
            }
        }
    }
}

extension WebPage {
    /// The reports (`/v1/reports/<name>`), each rendered from the shared
    /// `tables` shape, with inline SVG charts: placements against target,
    /// service utilisation, deadline status counts; and the coverage matrix.
    static let scriptReports = #"""
        // MARK: Reports

        const REPORTS = ["overview", "deadlines", "placements", "services", "integrity"];
        const ROW_STEP = 100;

        function reportState() {
          if (!S.state.reports) {
            S.state.reports = { name: "overview", year: new Date().getFullYear(), municipality: "", status: "", coverageLanguage: "sv", shown: {} };
          }
          return S.state.reports;
        }

        function renderReports(main) {
          const state = reportState();
          const panel = section(main, "reports.title");
          panel.append(el("p", { class: "lead", text: t(S.me.role === "office" ? "reports.introOffice" : "reports.intro") }));
          const picker = el("div", { class: "toolbar", role: "group", "aria-label": t("reports.choose") },
            REPORTS.map((name) => {
              const button = el("button", { type: "button", id: `report-${name}`, "aria-pressed": name === state.name ? "true" : "false",
                                            class: name === state.name ? null : "secondary", text: t(`report.${name}`) });
              button.addEventListener("click", () => {
                state.name = name;
                state.shown = {};
                render();
                document.getElementById(`report-${name}`).focus();
              });
              return button;
            }));
          panel.append(picker);
          const parameters = reportParameters(state);
          if (parameters) panel.append(parameters);
          const body = el("div", { id: "report-body", "aria-live": "polite" }, el("p", { text: t("common.loading") }));
          panel.append(body);
          loadReport(state, body);
        }

        function reportQuery(state, extra) {
          const pairs = [["lang", S.lang]];
          if (state.name === "placements") pairs.push(["year", state.year]);
          if (state.name === "deadlines") pairs.push(["municipality", state.municipality], ["status", state.status]);
          return query(pairs.concat(extra || []));
        }

        function reportParameters(state) {
          if (state.name !== "placements" && state.name !== "deadlines") return null;
          const form = el("form", { class: "toolbar", id: "report-parameters" });
          if (state.name === "placements") {
            const year = el("input", { type: "number", id: "report-year", min: "2000", max: "2100", value: String(state.year) });
            form.append(el("div", { class: "control" }, el("label", { for: year.id, text: t("reports.year") }), year));
            form.addEventListener("submit", (event) => { event.preventDefault(); state.year = Number(year.value) || state.year; render(); });
          } else {
            const municipalitySelect = el("select", { id: "report-municipality" },
              el("option", { value: "", text: t("reports.allMunicipalities") }),
              S.region.municipalities.map((m) => el("option", { value: String(m.code), selected: String(m.code) === state.municipality, text: municipalityName(m.code) })));
            const statusSelect = el("select", { id: "report-status" },
              ["", "overdue", "due_soon", "ok"].map((value) => el("option", { value, selected: value === state.status, text: value ? valueLabel(value) : t("reports.allStates") })));
            form.append(el("div", { class: "control" }, el("label", { for: municipalitySelect.id, text: t("f.municipality") }), municipalitySelect),
                        el("div", { class: "control" }, el("label", { for: statusSelect.id, text: t("reports.state") }), statusSelect));
            form.addEventListener("submit", (event) => {
              event.preventDefault();
              state.municipality = municipalitySelect.value;
              state.status = statusSelect.value;
              state.shown = {};
              render();
            });
          }
          form.append(el("button", { type: "submit", id: "report-apply", text: t("reports.apply") }));
          return form;
        }

        async function loadReport(state, body) {
          let report;
          try {
            report = await api("GET", `/v1/reports/${state.name}${reportQuery(state)}`);
          } catch (error) {
            if (body.isConnected) clear(body).append(errorMessage(error));
            return;
          }
          if (!body.isConnected) return;
          clear(body);
          const scope = report.scope && report.scope.municipality !== null && report.scope.municipality !== undefined
            ? municipalityName(report.scope.municipality) : t("reports.wholeRegion");
          body.append(el("p", { class: "lead", id: "report-meta" },
            t("reports.meta", { when: report.generatedAt ? new Date(report.generatedAt).toLocaleString(S.lang === "en" ? "en-GB" : S.lang) : "–", scope })));
          const charts = el("div", { class: "charts", id: "report-charts" });
          body.append(charts);
          const tables = report.tables || {};
          switch (state.name) {
            case "placements": placementCharts(report, charts); break;
            case "services": serviceCharts(report, charts); break;
            case "deadlines": deadlineCharts(report, charts); break;
            case "overview": overviewCharts(report, charts); break;
            default: break;
          }
          if (!charts.childNodes.length) charts.remove();
          if (state.name === "deadlines" && Array.isArray(report.rules)) body.append(rulesList(report.rules));
          if (state.name === "placements" && report.regionTotals) body.append(regionTotals(report));
          if (state.name === "services" && tables.coverage) body.append(coverageMatrix(tables.coverage, state));
          for (const [key, table] of Object.entries(tables)) {
            body.append(reportTable(state, key, table, report));
          }
        }

        /** One report table: title, CSV button, and its rows (a hundred more at a time). */
        function reportTable(state, key, table, report) {
          const id = `report-table-${key}`;
          const wrap = el("section", { class: "report-table", id: `${id}-section`, "aria-labelledby": `${id}-title` });
          wrap.append(el("div", { class: "table-heading" }, el("h2", { id: `${id}-title`, text: table.title || key }),
            csvButton(`/v1/reports/${state.name}${reportQuery(state, [["format", "csv"], ["table", key]])}`, `${state.name}-${key}.csv`, `${id}-csv`)));
          const rows = table.rows || [];
          const columns = table.columns || [];
          const limit = state.shown[key] || ROW_STEP;
          const holder = el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-labelledby": `${id}-title` });
          const body = el("tbody", {}, rows.slice(0, limit).map((row) => el("tr", {},
            columns.map((column) => el("td", { class: typeof row[column.key] === "number" && !MUNICIPALITY_COLUMNS.has(column.key) ? "number" : null },
              reportCell(column.key, row[column.key], report))))));
          holder.append(el("table", { id },
            el("caption", { class: "visually-hidden", text: table.title || key }),
            el("thead", {}, el("tr", {}, columns.map((column) => el("th", { scope: "col", text: column.label || column.key })))),
            body));
          wrap.append(holder);
          if (!rows.length) wrap.append(el("p", { class: "empty", text: t("reports.noRows") }));
          if (rows.length > limit) {
            const more = el("button", { type: "button", class: "secondary", id: `${id}-more`,
                                        text: t("reports.more", { shown: limit, total: rows.length }) });
            more.addEventListener("click", () => {
              state.shown[key] = limit + ROW_STEP;
              const replacement = reportTable(state, key, table, report);
              wrap.replaceWith(replacement);
              const target = replacement.querySelector("tbody tr:nth-child(" + (limit + 1) + ") td");
              (replacement.querySelector(`#${id}-more`) || replacement.querySelector(".table-wrap")).focus();
              if (target) target.scrollIntoView({ block: "nearest" });
            });
            wrap.append(el("p", {}, more));
          }
          return wrap;
        }

        const ENUM_COLUMNS = new Set(["state", "reason", "rule"]);
        const MUNICIPALITY_COLUMNS = new Set(["municipality", "ownerMunicipality"]);

        /** A report cell: municipality codes as names, vocabularies translated, utilisation as percent, a deadline rule by its title. */
        function reportCell(key, value, report) {
          if (value === null || value === undefined || value === "") return "–";
          if (key === "rule" && report && Array.isArray(report.rules)) {
            const rule = report.rules.find((candidate) => candidate.id === value);
            if (rule && rule.title) return rule.title;
          }
          if (MUNICIPALITY_COLUMNS.has(key)) return municipalityName(value);
          if (key === "municipalities") {
            const codes = Array.isArray(value) ? value : String(value).split(/[,;\s]+/).filter(Boolean);
            return codes.map(municipalityName).join(", ");
          }
          if (key === "utilisation") return percent(value);
          if (key === "language") return languageName(value);
          if (typeof value === "boolean") return value ? t("common.yes") : t("common.no");
          if (typeof value === "number") return numberText(value);
          if (typeof value === "string" && /^[0-9a-f]{8}-[0-9a-f]{4}-/.test(value)) return el("code", { title: value, text: value.slice(0, 8) });
          const field = specForColumn(key);
          if ((field && field.type === "choice") || (ENUM_COLUMNS.has(key) && has(`v.${value}`))) return valueLabel(value);
          if (key === "kind" && has(`kind.${value}.one`)) return t(`kind.${value}.one`);
          if (key === "kind" && has(`kind.${value}s.one`)) return t(`kind.${value}s.one`);
          return String(value);
        }

        function rulesList(rules) {
          const wrap = el("section", { id: "report-rules", "aria-labelledby": "report-rules-title" });
          wrap.append(el("h2", { id: "report-rules-title", text: t("reports.rules") }));
          wrap.append(el("ul", {}, rules.map((rule) => {
            const limit = rule.days !== undefined && rule.days !== null ? t("reports.days", { n: rule.days })
              : rule.months !== undefined && rule.months !== null ? t("reports.months", { n: rule.months }) : "";
            return el("li", {}, el("strong", { text: rule.title || rule.id }), limit ? ` – ${limit}` : "",
              rule.from ? ` (${t("reports.from")} ${fieldLabelAnyKind(rule.from)})` : "", rule.source ? el("br") : null,
              rule.source ? el("span", { class: "lead", text: rule.source }) : null);
          })));
          return wrap;
        }

        function fieldLabelAnyKind(name) {
          return specForColumn(name) ? fieldLabel("client", name) : name;
        }

        function regionTotals(report) {
          const totals = report.regionTotals;
          return el("dl", { class: "facts", id: "region-totals" },
            el("dt", { text: t("reports.regionTarget") }), el("dd", { text: report.regionTarget === null || report.regionTarget === undefined ? "–" : numberText(report.regionTarget) }),
            ["offered", "accepted", "arrived", "cancelled", "total"].map((key) => [
              el("dt", { text: t(`placements.${key}`) }), el("dd", { text: numberText(totals[key] || 0) })]));
        }

        // MARK: Charts (inline SVG, built with DOM calls)

        function figure(id, caption, drawing, legend) {
          const captionID = `${id}-caption`;
          drawing.setAttribute("role", "img");
          drawing.setAttribute("aria-labelledby", captionID);
          return el("figure", { class: "chart", id },
            el("figcaption", { id: captionID, text: caption }), drawing,
            legend && legend.length ? el("ul", { class: "legend" }, legend.map(([swatch, text]) => el("li", {}, el("span", { class: `swatch ${swatch}`, "aria-hidden": "true" }), text))) : null);
        }

        /** A tick step of 1, 2 or 5 × 10ⁿ giving at most five steps up to `value`. */
        function tickStep(value) {
          const rough = Math.max(value, 1) / 5;
          const power = Math.pow(10, Math.floor(Math.log10(rough)));
          for (const step of [1, 2, 5, 10]) if (step * power >= rough) return Math.max(1, step * power);
          return 10 * power;
        }

        /** Vertical bars with an optional target mark per bar and one across the chart. */
        function barChart(id, caption, bars, options) {
          const settings = options || {};
          const width = Math.max(360, 70 * bars.length + 80), height = 260;
          const left = 48, right = 16, top = 16, bottom = 56;
          const plotWidth = width - left - right, plotHeight = height - top - bottom;
          const highest = Math.max(1, ...bars.map((bar) => Math.max(bar.value, bar.target || 0)), settings.line || 0);
          const step = tickStep(highest);
          const max = step * Math.ceil(highest / step);
          const y = (value) => top + plotHeight - (value / max) * plotHeight;
          const drawing = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "bar-chart" });
          for (let value = 0; value <= max; value += step) {
            drawing.append(svg("line", { x1: left, x2: width - right, y1: y(value), y2: y(value), stroke: "#d5dbe3", "stroke-width": 1 }),
              svg("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end", "font-size": 11, text: numberText(value) }));
          }
          const slot = plotWidth / Math.max(1, bars.length);
          const barWidth = Math.min(44, slot * 0.6);
          bars.forEach((bar, index) => {
            const x = left + slot * index + (slot - barWidth) / 2;
            const label = bar.target !== null && bar.target !== undefined
              ? t("chart.barTarget", { label: bar.label, value: numberText(bar.value), target: numberText(bar.target) })
              : t("chart.bar", { label: bar.label, value: numberText(bar.value) });
            const group = svg("g", { class: "bar-group" }, svg("title", { text: label }));
            group.append(svg("rect", { class: "bar", x, y: y(bar.value), width: barWidth, height: Math.max(0, y(0) - y(bar.value)), fill: "#0b5cad" }));
            group.append(svg("text", { x: x + barWidth / 2, y: y(bar.value) - 4, "text-anchor": "middle", "font-size": 12, text: numberText(bar.value) }));
            if (bar.target !== null && bar.target !== undefined) {
              group.append(svg("line", { class: "target", x1: x - 6, x2: x + barWidth + 6, y1: y(bar.target), y2: y(bar.target), stroke: "#6b21a8", "stroke-width": 3 }));
            }
            group.append(svg("text", { x: x + barWidth / 2, y: height - bottom + 16, "text-anchor": "middle", "font-size": 12, text: bar.label }));
            drawing.append(group);
          });
          if (settings.line !== undefined && settings.line !== null) {
            drawing.append(svg("line", { class: "target target-line", x1: left, x2: width - right, y1: y(settings.line), y2: y(settings.line),
                                         stroke: "#6b21a8", "stroke-width": 2, "stroke-dasharray": "6 4" }, svg("title", { text: settings.lineLabel || "" })));
          }
          drawing.append(svg("line", { x1: left, x2: width - right, y1: y(0), y2: y(0), stroke: "#1b1f24", "stroke-width": 1 }));
          return figure(id, caption, drawing, settings.legend);
        }

        /** Horizontal bars (0..max) with a reference line, e.g. utilisation against 100 %. */
        function hbarChart(id, caption, bars, options) {
          const settings = options || {};
          const labelWidth = 240, barArea = 320, rowHeight = 24, top = 10;
          const width = labelWidth + barArea + 70, height = top * 2 + rowHeight * bars.length + 16;
          const max = Math.max(settings.reference || 0, ...bars.map((bar) => bar.value), 0.0001);
          const x = (value) => labelWidth + (value / max) * barArea;
          const drawing = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "hbar-chart" });
          bars.forEach((bar, index) => {
            const yTop = top + index * rowHeight;
            const over = settings.reference && bar.value > settings.reference;
            drawing.append(svg("g", { class: "bar-group" }, svg("title", { text: `${bar.label}: ${settings.format(bar.value)}` }),
              svg("text", { x: labelWidth - 8, y: yTop + 16, "text-anchor": "end", "font-size": 12, text: truncate(bar.label, 30) }),
              svg("rect", { class: "bar", x: labelWidth, y: yTop + 4, width: Math.max(1, x(bar.value) - labelWidth), height: rowHeight - 8,
                            fill: over ? "#c53030" : "#0b5cad" }),
              svg("text", { x: x(bar.value) + 6, y: yTop + 16, "font-size": 12, text: settings.format(bar.value) })));
          });
          if (settings.reference) {
            drawing.append(svg("line", { class: "target target-line", x1: x(settings.reference), x2: x(settings.reference), y1: top - 4, y2: height - 12,
                                         stroke: "#6b21a8", "stroke-width": 2, "stroke-dasharray": "6 4" }));
          }
          return figure(id, caption, drawing, settings.legend);
        }

        /** Horizontal stacked bars (e.g. overdue / due soon / ok per municipality). */
        function stackedChart(id, caption, rows, parts) {
          const labelWidth = 170, barArea = 380, rowHeight = 30, top = 8;
          const width = labelWidth + barArea + 20, height = top * 2 + rowHeight * rows.length;
          const max = Math.max(1, ...rows.map((row) => parts.reduce((sum, part) => sum + (row.values[part.key] || 0), 0)));
          const drawing = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "stacked-chart" });
          rows.forEach((row, index) => {
            const yTop = top + index * rowHeight;
            const group = svg("g", { class: "bar-group" },
              svg("title", { text: `${row.label}: ${parts.map((part) => `${part.label} ${numberText(row.values[part.key] || 0)}`).join(", ")}` }),
              svg("text", { x: labelWidth - 8, y: yTop + 19, "text-anchor": "end", "font-size": 12, text: row.label }));
            let x = labelWidth;
            for (const part of parts) {
              const value = row.values[part.key] || 0;
              const size = (value / max) * barArea;
              if (size > 0) {
                group.append(svg("rect", { class: `bar ${part.key}`, x, y: yTop + 4, width: size, height: rowHeight - 8, fill: part.color }));
                if (size > 22) group.append(svg("text", { x: x + size / 2, y: yTop + 19, "text-anchor": "middle", "font-size": 11,
                                                          fill: "#ffffff", class: "on-bar", text: numberText(value) }));
              }
              x += size;
            }
            drawing.append(group);
          });
          return figure(id, caption, drawing, parts.map((part) => [part.swatch, part.label]));
        }

        function truncate(text, length) {
          const value = String(text);
          return value.length > length ? `${value.slice(0, length - 1)}…` : value;
        }

        function placementCharts(report, charts) {
          const table = report.tables && report.tables.municipalities;
          if (!table) return;
          const bars = table.rows.map((row) => ({ label: municipalityName(row.municipality), value: row.total || 0, target: row.target }));
          const anyTarget = bars.some((bar) => bar.target !== null && bar.target !== undefined);
          charts.append(barChart("chart-placements", t("chart.placements", { year: report.year || "" }), bars,
            { legend: [["bar", t("chart.placed")]].concat(anyTarget ? [["target", t("chart.municipalTarget")]] : []) }));
          if (report.regionTotals && report.regionTarget !== null && report.regionTarget !== undefined) {
            charts.append(barChart("chart-region-target", t("chart.regionTarget", { year: report.year || "" }),
              [{ label: t("chart.region"), value: report.regionTotals.total || 0, target: null }],
              { line: report.regionTarget, lineLabel: t("chart.regionTargetLine", { target: numberText(report.regionTarget) }),
                legend: [["bar", t("chart.placed")], ["target", t("chart.regionTargetLine", { target: numberText(report.regionTarget) })]] }));
          }
        }

        function serviceCharts(report, charts) {
          const table = report.tables && report.tables.services;
          if (!table) return;
          const rows = table.rows.filter((row) => row.utilisation !== null && row.utilisation !== undefined)
            .sort((a, b) => b.utilisation - a.utilisation).slice(0, 15);
          if (!rows.length) return;
          charts.append(hbarChart("chart-utilisation", t("chart.utilisation", { n: rows.length }),
            rows.map((row) => ({ label: row.name || row.serviceId, value: row.utilisation })),
            { reference: 1, format: percent, legend: [["bar", t("chart.utilised")], ["bad", t("chart.overCapacity")], ["target", t("chart.capacityLine")]] }));
        }

        function deadlineCharts(report, charts) {
          const table = report.tables && report.tables.summary;
          if (!table) return;
          const rows = table.rows.map((row) => ({ label: municipalityName(row.municipality), values: row }));
          charts.append(stackedChart("chart-deadlines", t("chart.deadlines"), rows, [
            { key: "overdue", label: valueLabel("overdue"), color: "#c53030", swatch: "bad" },
            { key: "dueSoon", label: valueLabel("due_soon"), color: "#8a5a00", swatch: "warn" },
            { key: "ok", label: valueLabel("ok"), color: "#1e7b3a", swatch: "ok" },
          ]));
        }

        function overviewCharts(report, charts) {
          const table = report.tables && report.tables.clients;
          if (!table) return;
          const totals = new Map();
          for (const row of table.rows) totals.set(row.municipality, (totals.get(row.municipality) || 0) + (row.count || 0));
          const bars = Array.from(totals.entries()).map(([code, value]) => ({ label: municipalityName(code), value, target: null }));
          if (bars.length) charts.append(barChart("chart-clients", t("chart.clients"), bars, { legend: [["bar", t("chart.clientCount")]] }));
        }

        /** The services report's coverage as a matrix: category × municipality for one language; gaps marked in text. */
        function coverageMatrix(table, state) {
          const rows = table.rows || [];
          const languages = Array.from(new Set(rows.map((row) => row.language))).sort();
          if (!languages.includes(state.coverageLanguage)) state.coverageLanguage = languages.includes("sv") ? "sv" : languages[0];
          const categories = Array.from(new Set(rows.map((row) => row.category)));
          const municipalities = Array.from(new Set(rows.map((row) => row.municipality)));
          const counts = new Map(rows.filter((row) => row.language === state.coverageLanguage)
            .map((row) => [`${row.category}|${row.municipality}`, row.services || 0]));
          const wrap = el("section", { id: "coverage-matrix", "aria-labelledby": "coverage-title" });
          wrap.append(el("h2", { id: "coverage-title", text: t("coverage.title") }));
          const select = el("select", { id: "coverage-language" },
            languages.map((code) => el("option", { value: code, selected: code === state.coverageLanguage, text: languageName(code) })));
          select.addEventListener("change", () => {
            state.coverageLanguage = select.value;
            const replacement = coverageMatrix(table, state);
            wrap.replaceWith(replacement);
            document.getElementById("coverage-language").focus();
          });
          wrap.append(el("div", { class: "toolbar" }, el("div", { class: "control" }, el("label", { for: select.id, text: t("coverage.language") }), select)));
          let gaps = 0;
          const body = el("tbody", {}, categories.map((category) => el("tr", {},
            el("th", { scope: "row", text: valueLabel(category) }),
            municipalities.map((code) => {
              const count = counts.get(`${category}|${code}`) || 0;
              if (!count) gaps += 1;
              return el("td", { class: "number" }, count ? numberText(count) : el("span", { class: "badge bad", text: t("coverage.gap") }));
            }))));
          wrap.append(el("p", { class: "lead", id: "coverage-summary", text: t("coverage.summary", { gaps, language: languageName(state.coverageLanguage) }) }));
          wrap.append(el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-labelledby": "coverage-title" },
            el("table", { id: "coverage-table" },
              el("thead", {}, el("tr", {}, el("th", { scope: "col", text: t("f.category") }),
                municipalities.map((code) => el("th", { scope: "col", class: "number", text: municipalityName(code) })))), body)));
          return wrap;
        }
        """#
}

extension WebPage {
    /// The merged tables: a record browser (filters as the list endpoint's
    /// `field=value` parameters, search within the page, keyset paging with
    /// `after`/`next`, CSV) used by the coordinator's Tables view and the
    /// office's Records view.
    static let scriptRecords = #"""
        // MARK: Record browser

        const TABLES = ["clients", "services", "placements"];
        const PAGE_SIZES = [25, 50, 100];

        function browserState(key, defaults) {
          if (!S.state[key]) {
            S.state[key] = Object.assign({ table: "clients", filters: [], after: null, stack: [], limit: 25, search: "", personal: false,
                                           page: null, error: null }, defaults);
          }
          return S.state[key];
        }

        /** The fields shown as columns: personal data only when asked for. */
        function columnsOf(table, personal) {
          return S.schema[table].fields.filter((field) => personal || !field.personal);
        }

        /** A control for one filter or form value of `field`: a select for closed vocabularies, else an input. */
        function valueControl(field, id, value, options) {
          const settings = options || {};
          const common = { id, name: field.name };
          if (settings.describedBy) common["aria-describedby"] = settings.describedBy;
          if (settings.required) common.required = true;
          const choices = (field.type === "choice" || field.type === "municipalityCode" || (settings.filter && field.type === "municipalityCodes"))
            ? field.allowed : field.type === "bool" ? [true, false] : null;
          if (choices) {
            const select = el("select", common);
            // Always an empty choice: a required field is not filled in until someone picks a value.
            select.append(el("option", { value: "", text: settings.filter || settings.required ? t("filter.choose") : "–" }));
            for (const choice of choices) {
              const label = field.type === "bool" ? (choice ? t("common.yes") : t("common.no"))
                : field.type === "choice" ? valueLabel(choice) : municipalityName(choice);
              select.append(el("option", { value: String(choice), text: label, selected: String(value) === String(choice) }));
            }
            return select;
          }
          const input = el("input", Object.assign(common, { type: "text", value: value === null || value === undefined ? "" : String(value) }));
          switch (field.type) {
            case "integer":
              input.type = "number";
              if (field.min !== undefined) input.min = String(field.min);
              if (field.max !== undefined) input.max = String(field.max);
              break;
            case "date": input.type = "date"; break;
            case "text": if (field.maxLength) input.maxLength = field.maxLength; break;
            case "languageCode": input.maxLength = 2; input.autocomplete = "off"; break;
            case "uuid": input.autocomplete = "off"; input.spellcheck = false; input.size = 38; break;
            default: break;
          }
          return input;
        }

        /** Renders a record browser into `container`. `options.key` names its state;
            `options.tables`, `options.baseFilters(table)` (fixed filters, e.g. an office's
            municipality), `options.actions(record, table)` (buttons for a row). */
        function renderBrowser(container, options) {
          const state = browserState(options.key, options.defaults);
          const table = state.table;
          const kind = S.schema[table];
          const wrap = el("div", { class: "browser", id: `${options.key}-browser` });
          container.append(wrap);

          // Table, page size, personal data, CSV.
          const tableSelect = el("select", { id: `${options.key}-table` },
            (options.tables || TABLES).map((name) => el("option", { value: name, selected: name === table, text: kindLabel(name, true) })));
          tableSelect.addEventListener("change", () => {
            Object.assign(state, { table: tableSelect.value, filters: [], after: null, stack: [], search: "", page: null });
            rerender();
          });
          const sizeSelect = el("select", { id: `${options.key}-limit` },
            PAGE_SIZES.map((size) => el("option", { value: String(size), selected: size === state.limit, text: String(size) })));
          sizeSelect.addEventListener("change", () => {
            Object.assign(state, { limit: Number(sizeSelect.value), after: null, stack: [], page: null });
            rerender();
          });
          const hasPersonal = kind.fields.some((field) => field.personal);
          const personalBox = el("input", { type: "checkbox", id: `${options.key}-personal`, checked: state.personal });
          personalBox.addEventListener("change", () => { state.personal = personalBox.checked; rerender(); });
          const filters = () => (options.baseFilters ? options.baseFilters(table) : []).concat(state.filters.map((f) => [f.name, f.value]));
          const search = el("input", { type: "search", id: `${options.key}-search`, value: state.search, "aria-describedby": `${options.key}-search-hint` });
          wrap.append(el("div", { class: "toolbar" },
            el("div", { class: "control" }, el("label", { for: tableSelect.id, text: t("browser.table") }), tableSelect),
            el("div", { class: "control" }, el("label", { for: sizeSelect.id, text: t("browser.pageSize") }), sizeSelect),
            el("div", { class: "control" }, el("label", { for: search.id, text: t("browser.search") }), search),
            hasPersonal ? el("label", { class: "inline", for: personalBox.id }, personalBox, t("browser.personal")) : null,
            csvButton(`/v1/${table}${query([["format", "csv"], ["lang", S.lang]].concat(filters()))}`, `${table}.csv`, `${options.key}-csv`)));
          wrap.append(el("p", { class: "hint lead", id: `${options.key}-search-hint`, text: t("browser.searchHint") }));

          // Filters: field = value, as the list endpoint takes them.
          const filterable = kind.fields.filter((field) => state.personal || !field.personal);
          const fieldSelect = el("select", { id: `${options.key}-filter-field` },
            filterable.map((field) => el("option", { value: field.name, text: fieldLabel(kind.kind, field.name) })));
          if (state.filterField && filterable.some((f) => f.name === state.filterField)) fieldSelect.value = state.filterField;
          const valueSlot = el("div", { class: "control" });
          const drawValue = () => {
            clear(valueSlot);
            const field = kind.byName[fieldSelect.value];
            const control = valueControl(field, `${options.key}-filter-value`, "", { filter: true });
            valueSlot.append(el("label", { for: control.id, text: t("filter.value") }), control);
          };
          fieldSelect.addEventListener("change", () => { state.filterField = fieldSelect.value; drawValue(); });
          drawValue();
          const add = el("button", { type: "submit", id: `${options.key}-filter-add`, text: t("filter.add") });
          const filterForm = el("form", { class: "toolbar", id: `${options.key}-filter-form` },
            el("div", { class: "control" }, el("label", { for: fieldSelect.id, text: t("filter.field") }), fieldSelect),
            valueSlot, add);
          filterForm.addEventListener("submit", (event) => {
            event.preventDefault();
            const control = document.getElementById(`${options.key}-filter-value`);
            const value = control.value.trim();
            if (!value) { control.focus(); announce(t("filter.needValue")); return; }
            state.filters = state.filters.filter((f) => f.name !== fieldSelect.value).concat([{ name: fieldSelect.value, value }]);
            Object.assign(state, { after: null, stack: [], page: null });
            rerender();
          });
          const chips = el("ul", { class: "chips", id: `${options.key}-filters`, "aria-label": t("filter.active") },
            state.filters.map((filter, index) => {
              const field = kind.byName[filter.name];
              const label = `${fieldLabel(kind.kind, filter.name)} = ${textOf(formatValue(field, filterDisplayValue(field, filter.value)))}`;
              const remove = el("button", { type: "button", class: "secondary", "aria-label": t("filter.remove", { filter: label }), text: "×" });
              remove.addEventListener("click", () => {
                state.filters.splice(index, 1);
                Object.assign(state, { after: null, stack: [], page: null });
                rerender();
              });
              return el("li", {}, label, remove);
            }));
          wrap.append(el("fieldset", { class: "filters" }, el("legend", { text: t("filter.legend") }), filterForm,
            state.filters.length ? chips : el("p", { class: "empty", text: t("filter.none") })));

          const status = el("p", { id: `${options.key}-status`, role: "status" });
          const tableSlot = el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-labelledby": `${options.key}-caption` });
          const pager = el("div", { class: "pager" });
          wrap.append(status, tableSlot, pager);

          const columns = columnsOf(table, state.personal);
          const applySearch = () => {
            state.search = search.value;
            const needle = search.value.trim().toLowerCase();
            const rows = tableSlot.querySelectorAll("tbody tr");
            let shown = 0;
            rows.forEach((row) => {
              const match = !needle || row.textContent.toLowerCase().includes(needle);
              row.hidden = !match;
              if (match) shown += 1;
            });
            status.textContent = state.page ? t("browser.status", { page: state.stack.length + 1, shown, total: rows.length }) : "";
          };
          search.addEventListener("input", applySearch);

          const draw = () => {
            clear(tableSlot);
            clear(pager);
            if (state.error) {
              tableSlot.append(errorMessage(state.error));
              return;
            }
            if (!state.page) { status.textContent = t("common.loading"); return; }
            const items = state.page.items;
            const head = el("tr", {}, columns.map((field) => el("th", { scope: "col", class: numeric(field) ? "number" : null, text: fieldLabel(kind.kind, field.name) })),
              el("th", { scope: "col", class: "number", text: t("browser.conflicts") }),
              options.actions ? el("th", { scope: "col", text: t("browser.actions") }) : null);
            const body = el("tbody", {}, items.map((record) => el("tr", { "data-id": record.id },
              columns.map((field) => el("td", { class: numeric(field) ? "number" : field.type === "date" ? "date" : null },
                field.name in record.fields ? formatValue(field, record.fields[field.name]) : minimisedMarker())),
              el("td", { class: "number" }, record.openConflicts ? el("span", { class: "badge warn", text: numberText(record.openConflicts) }) : "0"),
              options.actions ? el("td", {}, options.actions(record, table)) : null)));
            tableSlot.append(el("table", { id: `${options.key}-records` },
              el("caption", { id: `${options.key}-caption`, text: `${kindLabel(table, true)} – ${t("browser.page", { page: state.stack.length + 1 })}` }),
              el("thead", {}, head), body));
            if (!items.length) tableSlot.append(el("p", { class: "empty", text: t("browser.empty") }));
            const previous = el("button", { type: "button", class: "secondary", id: `${options.key}-previous`, text: t("browser.previous"), disabled: !state.stack.length });
            const next = el("button", { type: "button", class: "secondary", id: `${options.key}-next`, text: t("browser.next"), disabled: !state.page.next });
            previous.addEventListener("click", () => { state.after = state.stack.pop() || null; load(previous.id); });
            next.addEventListener("click", () => { state.stack.push(state.after); state.after = state.page.next; load(next.id); });
            pager.append(previous, el("span", { text: t("browser.page", { page: state.stack.length + 1 }) }), next);
            applySearch();
          };

          const load = async (focusID) => {
            state.page = null;
            state.error = null;
            draw();
            try {
              const answer = await api("GET", `/v1/${table}${query([["limit", state.limit], ["after", state.after]].concat(filters()))}`);
              state.page = answer;
            } catch (error) {
              state.error = error;
            }
            if (!wrap.isConnected) return;
            draw();
            if (focusID) {
              const target = document.getElementById(focusID);
              if (target && !target.disabled) target.focus(); else tableSlot.focus();
            }
          };

          const rerender = () => {
            const parent = wrap.parentNode;
            const marker = wrap.nextSibling;
            wrap.remove();
            const holder = el("div");
            renderBrowser(holder, options);
            parent.insertBefore(holder.firstChild, marker);
          };

          if (state.page) draw(); else load();
          return wrap;
        }

        function numeric(field) { return field.type === "integer"; }

        /** Filter values are text; show codes and booleans as the page shows field values. */
        function filterDisplayValue(field, value) {
          if (field.type === "bool") return value === "true";
          if (field.type === "integer" || field.type === "municipalityCode") return Number(value);
          if (field.type === "municipalityCodes" || field.type === "languageCodes") return [value];
          return value;
        }

        function textOf(value) { return value instanceof Node ? value.textContent : String(value); }

        // MARK: Coordinator: merged tables

        function renderTables(main) {
          const panel = section(main, "tables.title");
          panel.append(el("p", { class: "lead", text: t("tables.intro") }));
          renderBrowser(panel, { key: "tables" });
        }
        """#
}

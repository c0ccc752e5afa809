extension WebPage {
    /// The office's view: its municipality's records, and a form built from
    /// `GET /v1/schema` to create or edit one, with the server's validation
    /// problems shown next to each field (`aria-invalid`, `aria-describedby`).
    static let scriptOffice = #"""
        // MARK: Office: records and the record form

        function officeState() {
          if (!S.state.office) S.state.office = { mode: "list", table: "clients", editing: null, draft: {}, problems: [], saved: null };
          return S.state.office;
        }

        function renderOffice(main) {
          const state = officeState();
          const own = S.me.municipality;
          const panel = section(main, "office.title", { municipality: municipalityName(own) });
          if (state.mode === "form") {
            renderRecordForm(panel, state);
            return;
          }
          panel.append(el("p", { class: "lead", text: t("office.intro") }));
          const create = el("div", { class: "toolbar" }, TABLES.map((table) => {
            const button = el("button", { type: "button", id: `new-${table}`, text: t(`office.new.${table}`) });
            button.addEventListener("click", () => openForm(state, table, null));
            return button;
          }));
          panel.append(create);
          renderBrowser(panel, {
            key: "records",
            baseFilters: (table) => (table === "clients" ? [["ownerMunicipality", own]] : table === "services" ? [["municipalities", own]] : []),
            actions: (record, table) => {
              // Another municipality's client: this office may not edit it, and sees it minimised.
              if (record.view && record.view !== "full") return minimisedMarker();
              const edit = el("button", { type: "button", class: "secondary edit", text: t("office.edit") });
              edit.setAttribute("aria-label", `${t("office.edit")}: ${kindLabel(table, false)} ${recordName(table, record) || record.id.slice(0, 8)}`);
              edit.addEventListener("click", async () => {
                edit.disabled = true;
                try {
                  openForm(state, table, await api("GET", `/v1/${table}/${record.id}`));
                } catch (error) {
                  edit.disabled = false;
                  edit.after(errorMessage(error));
                }
              });
              return edit;
            },
          });
        }

        /** Form values as text per field (what the controls hold). */
        function draftOf(table, record) {
          const draft = {};
          const fields = S.schema[table].fields;
          for (const field of fields) {
            const value = record ? record.fields[field.name] : null;
            if (field.type === "municipalityCodes") draft[field.name] = Array.isArray(value) ? value.map(String) : [];
            else if (field.type === "languageCodes") draft[field.name] = Array.isArray(value) ? value.join(", ") : "";
            else draft[field.name] = value === null || value === undefined ? "" : String(value);
          }
          if (!record) {
            const own = String(S.me.municipality);
            if (table === "clients") draft.ownerMunicipality = own;
            if (table === "services") draft.municipalities = [own];
          }
          return draft;
        }

        function openForm(state, table, record) {
          Object.assign(state, { mode: "form", table, editing: record, draft: draftOf(table, record), problems: [], saved: null });
          render();
          const first = document.querySelector("#record-form input, #record-form select");
          if (first) first.focus();
        }

        function closeForm(state) {
          Object.assign(state, { mode: "list", editing: null, draft: {}, problems: [], saved: null });
          if (S.state.records) S.state.records.page = null;
          render();
        }

        function renderRecordForm(panel, state) {
          const table = state.table;
          const kind = S.schema[table];
          const editing = state.editing;
          panel.append(el("h2", { id: "form-title", text: editing
            ? t("office.editTitle", { kind: kindLabel(table, false), name: recordName(table, editing) || editing.id.slice(0, 8) })
            : t("office.newTitle", { kind: kindLabel(table, false) }) }));
          if (state.saved) panel.append(message("success", state.saved));
          const byField = new Map();
          const general = [];
          for (const problem of state.problems) {
            if (kind.byName[problem.field]) {
              if (!byField.has(problem.field)) byField.set(problem.field, []);
              byField.get(problem.field).push(problem.reason);
            } else {
              general.push(problem);
            }
          }
          if (state.problems.length) {
            const summary = el("div", { class: "message error", id: "error-summary", role: "alert", tabindex: "-1" },
              el("strong", { text: t("form.problems", { n: state.problems.length }) }),
              el("ul", {}, state.problems.map((problem) => {
                const label = kind.byName[problem.field] ? fieldLabel(kind.kind, problem.field) : problem.field;
                const text = `${label}: ${reasonText(problem.reason)}`;
                if (!kind.byName[problem.field]) return el("li", { text });
                const link = el("a", { href: `#f-${problem.field}`, text });
                link.addEventListener("click", (event) => {
                  event.preventDefault();
                  const target = document.getElementById(`f-${problem.field}`);
                  if (target) target.focus();
                });
                return el("li", {}, link);
              })));
            panel.append(summary);
          }
          const form = el("form", { id: "record-form", novalidate: true, "aria-labelledby": "form-title" });
          form.append(el("p", { class: "lead" }, t("form.requiredNote")));
          const grid = el("div", { class: "grid" });
          for (const field of kind.fields) grid.append(formField(kind, field, state, byField.get(field.name) || []));
          form.append(grid);
          const save = el("button", { type: "submit", id: "form-save", text: t("form.save") });
          const cancel = el("button", { type: "button", class: "secondary", id: "form-cancel", text: t("form.back") });
          cancel.addEventListener("click", () => closeForm(state));
          form.append(el("div", { class: "form-actions" }, save, cancel));
          form.addEventListener("submit", (event) => {
            event.preventDefault();
            saveRecord(state, save);
          });
          panel.append(form);
        }

        function typeHint(field) {
          switch (field.type) {
            case "date": return t("hint.date");
            case "text": return field.maxLength ? t("hint.maxLength", { n: field.maxLength }) : "";
            case "integer": return t("hint.range", { min: numberText(field.min), max: numberText(field.max) });
            case "uuid": return t("hint.uuid");
            case "languageCode": return t("hint.language");
            case "languageCodes": return t("hint.languages");
            case "personalIdentityCode": return t("hint.pic");
            default: return "";
          }
        }

        function formField(kind, field, state, reasons) {
          const id = `f-${field.name}`;
          const hintText = typeHint(field);
          const hintID = hintText ? `${id}-hint` : null;
          const errorID = reasons.length ? `${id}-error` : null;
          const describedBy = [hintID, errorID].filter(Boolean).join(" ") || null;
          const label = [fieldLabel(kind.kind, field.name), field.required ? el("span", { class: "required-mark", "aria-hidden": "true", text: " *" }) : null];
          const wrap = el("div", { class: "field", "data-field": field.name });
          const value = state.draft[field.name];
          if (field.type === "municipalityCodes") {
            const chosen = new Set(Array.isArray(value) ? value : []);
            const fieldset = el("fieldset", { id, tabindex: "-1", "aria-describedby": describedBy, "aria-invalid": reasons.length ? "true" : null },
              el("legend", {}, label, field.required ? el("span", { class: "visually-hidden", text: ` (${t("form.required")})` }) : null),
              field.allowed.map((code) => {
                const boxID = `${id}-${code}`;
                const box = el("input", { type: "checkbox", id: boxID, name: field.name, value: String(code), checked: chosen.has(String(code)) });
                box.addEventListener("change", () => {
                  const set = new Set(state.draft[field.name] || []);
                  if (box.checked) set.add(String(code)); else set.delete(String(code));
                  state.draft[field.name] = Array.from(set);
                });
                return el("label", { class: "inline", for: boxID }, box, municipalityName(code));
              }));
            wrap.append(fieldset);
          } else {
            const control = valueControl(field, id, value, { describedBy, required: field.required });
            if (reasons.length) control.setAttribute("aria-invalid", "true");
            if (field.required) control.setAttribute("aria-required", "true");
            const update = () => { state.draft[field.name] = control.value; };
            control.addEventListener("input", update);
            control.addEventListener("change", update);
            wrap.append(el("label", { for: id }, label), control);
          }
          if (hintText) wrap.append(el("span", { class: "hint", id: hintID, text: hintText }));
          if (reasons.length) wrap.append(el("p", { class: "field-error", id: errorID, text: reasons.map(reasonText).join("; ") }));
          return wrap;
        }

        /** The request body: every filled field for a new record; only the changed ones for an edit. */
        function recordBody(state) {
          const kind = S.schema[state.table];
          const body = {};
          for (const field of kind.fields) {
            const raw = state.draft[field.name];
            const value = field.type === "municipalityCodes"
              ? ((raw || []).length ? raw.map((code) => (/^\d+$/.test(code) ? Number(code) : code)) : null)
              : parseFieldValue(field, raw === undefined ? "" : raw);
            if (state.editing) {
              const before = state.editing.fields[field.name];
              const normalisedBefore = Array.isArray(before) && before.length === 0 ? null : before;
              if (JSON.stringify(normalisedBefore === undefined ? null : normalisedBefore) !== JSON.stringify(value)) body[field.name] = value;
            } else if (value !== null) {
              body[field.name] = value;
            }
          }
          return body;
        }

        async function saveRecord(state, button) {
          const body = recordBody(state);
          if (state.editing && !Object.keys(body).length) {
            state.saved = null;
            state.problems = [];
            render();
            announce(t("form.nothingChanged"));
            return;
          }
          button.disabled = true;
          try {
            const record = state.editing
              ? await api("PATCH", `/v1/${state.table}/${state.editing.id}`, body)
              : await api("POST", `/v1/${state.table}`, body);
            const name = recordName(state.table, record) || record.id.slice(0, 8);
            Object.assign(state, { editing: record, draft: draftOf(state.table, record), problems: [],
                                   saved: t("form.saved", { kind: kindLabel(state.table, false), name }) });
            if (S.state.records) S.state.records.page = null;
            render();
            const notice = document.querySelector("#main .message.success");
            if (notice) { notice.tabIndex = -1; notice.focus(); }
            announce(state.saved);
          } catch (error) {
            button.disabled = false;
            if (error instanceof ApiError && error.status === 422 && error.problems.length) {
              state.problems = error.problems;
              state.saved = null;
              render();
              const summary = document.getElementById("error-summary");
              if (summary) summary.focus();
            } else {
              button.parentNode.after(errorMessage(error));
            }
          }
        }

        /** A server reason in the page's language where the page knows its pattern, else as the server wrote it. */
        function reasonText(reason) {
          const text = String(reason);
          const patterns = [
            [/^is required$/, () => t("reason.required")],
            [/^must not be empty$/, () => t("reason.notEmpty")],
            [/^is longer than (\d+) characters$/, (m) => t("reason.tooLong", { n: m[1] })],
            [/^must be at least (-?\d+)$/, (m) => t("reason.atLeast", { n: m[1] })],
            [/^must be at most (-?\d+)$/, (m) => t("reason.atMost", { n: m[1] })],
            [/^must be a date YYYY-MM-DD$/, () => t("reason.date")],
            [/^must be a UUID$/, () => t("reason.uuid")],
            [/^must be one of: (.*)$/, (m) => t("reason.oneOf", { values: m[1].split(", ").map(valueLabel).join(", ") })],
            [/^unknown municipality code$/, () => t("reason.municipality")],
            [/^must be an ISO 639-1 code/, () => t("reason.language")],
            [/^must be ISO 639-1 codes/, () => t("reason.languages")],
            [/^malformed personal identity code$/, () => t("reason.pic")],
            [/^does not match (\w+)$/, (m) => t("reason.mismatch", { field: fieldLabel("client", m[1]) })],
            [/^must not be before (\w+)$/, (m) => t("reason.before", { field: fieldLabelAnyKind(m[1]) })],
            [/^is required while the plan is active$/, () => t("reason.planActive")],
            [/^a Finnish or Swedish name is required$/, () => t("reason.serviceName")],
            [/^is required for a service enrolment$/, () => t("reason.forEnrolment")],
            [/^is required for a municipal placement$/, () => t("reason.forPlacement")],
            [/^applies only to a municipal placement$/, () => t("reason.onlyPlacement")],
            [/^applies only to a service enrolment$/, () => t("reason.onlyEnrolment")],
            [/^must be (a string|an integer|true or false)/, () => t("reason.type")],
          ];
          for (const [pattern, make] of patterns) {
            const match = pattern.exec(text);
            if (match) return make(match);
          }
          return text;
        }
        """#
}

extension WebPage {
    /// Open conflicts side by side — the value the merge picked beside each
    /// concurrent value of the frontier — and the resolve action
    /// (`POST /v1/conflicts/{id}/resolve`), which writes the chosen value so it
    /// replicates and closes the conflict at every node.
    static let scriptConflicts = #"""
        // MARK: Conflicts

        const KIND_TABLE = { client: "clients", service: "services", placement: "placements" };

        /** Groups GET /v1/conflicts items by conflict id (`<table>:<rowId>:<field>`). */
        function groupConflicts(items) {
          const groups = new Map();
          for (const item of items) {
            const table = KIND_TABLE[item.kind] || item.kind;
            // Items name the conflict as "<table>:<rowId>:<field>"; the row id alone before that.
            const text = String(item.id || "");
            const rowID = item.rowId || item.recordId || (text.includes(":") ? text.split(":")[1] : text);
            const id = text.includes(":") ? text : `${table}:${rowID}:${item.field}`;
            if (!groups.has(id)) groups.set(id, { id, table, kind: item.kind, rowID, field: item.field, firstSeen: item.firstSeen, values: [] });
            const group = groups.get(id);
            group.values.push(item);
            if (item.firstSeen && (!group.firstSeen || item.firstSeen < group.firstSeen)) group.firstSeen = item.firstSeen;
          }
          return Array.from(groups.values());
        }

        function renderConflicts(main) {
          const panel = section(main, "conflicts.title");
          panel.append(el("p", { class: "lead", text: t("conflicts.intro") }));
          const refresh = el("button", { type: "button", class: "secondary", id: "conflicts-refresh", text: t("common.refresh") });
          refresh.addEventListener("click", () => { render(); document.getElementById("conflicts-refresh").focus(); });
          panel.append(el("div", { class: "toolbar" }, refresh));
          if (S.state.conflictNotice) {
            panel.append(message("success", S.state.conflictNotice));
            S.state.conflictNotice = null;
          }
          const list = el("div", { id: "conflict-list" }, el("p", { text: t("common.loading") }));
          panel.append(list);
          loadConflicts(list);
        }

        async function loadConflicts(list) {
          let groups;
          const records = new Map();
          try {
            const answer = await api("GET", "/v1/conflicts");
            groups = groupConflicts(answer.items || []);
            await Promise.all(Array.from(new Set(groups.map((group) => `${group.table}/${group.rowID}`))).map(async (path) => {
              try { records.set(path, await api("GET", `/v1/${path}`)); } catch (error) { records.set(path, null); }
            }));
          } catch (error) {
            if (list.isConnected) clear(list).append(errorMessage(error));
            return;
          }
          if (!list.isConnected) return;
          clear(list);
          if (!groups.length) {
            list.append(el("p", { class: "empty", id: "conflicts-none", text: t("conflicts.none") }));
            return;
          }
          list.append(el("p", { id: "conflicts-count", text: t("conflicts.count", { n: groups.length }) }));
          for (const group of groups) list.append(conflictCard(group, records.get(`${group.table}/${group.rowID}`)));
        }

        function recordName(table, record) {
          if (!record) return "";
          const fields = record.fields || {};
          if (table === "clients") return fields.clientNumber || (record.view && record.view !== "full" ? t("records.minimised") : "");
          if (table === "services") return (S.lang === "sv" ? fields.nameSv || fields.nameFi : fields.nameFi || fields.nameSv) || "";
          if (table === "placements") return fields.type ? valueLabel(fields.type) : "";
          return "";
        }

        function conflictCard(group, record) {
          const field = spec(group.table, group.field) || { name: group.field, type: "text" };
          const safeID = group.id.replace(/[^a-zA-Z0-9_-]/g, "_");
          const card = el("article", { class: "conflict", id: `conflict-${safeID}`, "data-conflict-id": group.id, "aria-labelledby": `conflict-${safeID}-title` });
          card.append(el("h2", { id: `conflict-${safeID}-title` },
            `${kindLabel(group.table, false)} ${recordName(group.table, record)} – ${fieldLabel(group.kind, group.field)}`));
          card.append(el("p", { class: "lead" }, t("conflicts.firstSeen", { when: ago(group.firstSeen) }), " · ",
            el("code", { title: group.rowID, text: group.rowID.slice(0, 8) })));
          const feedback = el("div", { class: "feedback" });
          const versions = el("div", { class: "versions" });
          const current = record ? record.fields[group.field] : undefined;
          const winner = group.values[0] && group.values[0].winner;
          versions.append(versionBox(group, field, current, true, winner, feedback, record));
          for (const item of group.values) versions.append(versionBox(group, field, item.valueWithheld ? undefined : item.value, false, item.dot, feedback, record));
          card.append(versions);

          // Or a new value of the field's own kind.
          const otherID = `conflict-${safeID}-other`;
          const other = valueControl(field, otherID, "", {});
          const otherForm = el("form", { class: "toolbar" },
            el("div", { class: "control" }, el("label", { for: otherID, text: t("conflicts.other") }), other),
            el("button", { type: "submit", class: "secondary", text: t("conflicts.useOther") }));
          otherForm.addEventListener("submit", (event) => {
            event.preventDefault();
            resolveConflict(group, parseFieldValue(field, other.value), feedback, otherForm.querySelector("button"));
          });
          card.append(otherForm, feedback);
          return card;
        }

        function versionBox(group, field, value, isWinner, dot, feedback, record) {
          const box = el("div", { class: isWinner ? "version winner" : "version" });
          box.append(el("div", { class: "meta", text: isWinner ? t("conflicts.winner") : t("conflicts.concurrent") }));
          box.append(el("div", { class: "value" }, value === undefined ? t("conflicts.unknown") : formatValue(field, value)));
          if (dot) box.append(el("div", { class: "meta", text: t("conflicts.writtenAt", { node: nodeLabel(dot.origin), seq: dot.seq }) }));
          if (value !== undefined) {
            const choose = el("button", { type: "button", class: "choose", "data-value": JSON.stringify(value),
                                          text: isWinner ? t("conflicts.keep") : t("conflicts.choose") });
            choose.setAttribute("aria-label", `${isWinner ? t("conflicts.keep") : t("conflicts.choose")}: ${textOf(formatValue(field, value))}`);
            choose.addEventListener("click", () => resolveConflict(group, value, feedback, choose));
            box.append(choose);
          }
          return box;
        }

        /** A form value as the JSON the API takes for the field. */
        function parseFieldValue(field, text) {
          const value = String(text).trim();
          if (value === "") return null;
          switch (field.type) {
            case "integer": case "municipalityCode": return /^-?\d+$/.test(value) ? Number(value) : value;
            case "bool": return value === "true" ? true : value === "false" ? false : value;
            case "municipalityCodes": return value.split(/[,\s]+/).filter(Boolean).map((part) => (/^\d+$/.test(part) ? Number(part) : part));
            case "languageCodes": return value.split(/[,\s]+/).filter(Boolean);
            default: return value;
          }
        }

        async function resolveConflict(group, value, feedback, button) {
          clear(feedback);
          button.disabled = true;
          try {
            // Ids are "<table>:<rowId>:<field>"; a colon may stand in a path segment as it is.
            const id = /^[A-Za-z0-9:_-]+$/.test(group.id) ? group.id : encodeURIComponent(group.id);
            await api("POST", `/v1/conflicts/${id}/resolve`, { value });
            S.state.conflictNotice = t("conflicts.resolved", { field: fieldLabel(group.kind, group.field) });
            announce(S.state.conflictNotice);
            render();
            const notice = document.querySelector("#main .message.success");
            if (notice) { notice.tabIndex = -1; notice.focus(); }
          } catch (error) {
            button.disabled = false;
            feedback.append(errorMessage(error));
            if (error.problems && error.problems.length) {
              feedback.append(el("ul", {}, error.problems.map((problem) => el("li", { text: `${fieldLabel(group.kind, problem.field)}: ${reasonText(problem.reason)}` }))));
            }
          }
        }
        """#
}

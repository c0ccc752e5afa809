extension WebPage {
    /// The script's base: state, DOM and SVG helpers, the API client (bearer
    /// token from session storage), translations, value formatting, CSV
    /// downloads, the shell (header, navigation) and sign-in.
    static let scriptCore = #"""
        "use strict";
        // kotosync web page: plain JavaScript, no libraries, no build step.
        // Views render into <main> from the API's JSON; labels come from
        // STRINGS in the chosen language.

        const LANGUAGES = ["fi", "sv", "en"];
        const TOKEN_KEY = "kotosync.token";
        const LANGUAGE_KEY = "kotosync.language";

        const S = {
          token: sessionStorage.getItem(TOKEN_KEY),
          lang: "fi",
          me: null,          // GET /v1/whoami
          region: null,      // GET /v1/region
          schema: null,      // table -> {kind, table, fields, byName}
          view: null,        // id of the view shown
          timers: [],        // intervals of the view shown, cleared when it changes
          missing: new Set(),// "lang:key" of labels with no translation (the browser tests read it)
          state: {},         // per-view state kept across renders: filters, paging, drafts
        };
        // For the browser tests: which labels had no translation.
        window.kotosync = { missingStrings: () => Array.from(S.missing).sort() };

        // MARK: DOM

        /** An element with attributes (`text`, `class`, `on<event>` handled specially) and children. */
        function el(tag, attributes, ...children) {
          const node = document.createElement(tag);
          setAttributes(node, attributes);
          append(node, children);
          return node;
        }

        const SVG_NS = "http://www.w3.org/2000/svg";
        /** An SVG element (charts and drawings are built with DOM calls, never markup strings). */
        function svg(tag, attributes, ...children) {
          const node = document.createElementNS(SVG_NS, tag);
          setAttributes(node, attributes);
          append(node, children);
          return node;
        }

        function setAttributes(node, attributes) {
          for (const [name, value] of Object.entries(attributes || {})) {
            if (value === null || value === undefined || value === false) continue;
            if (name === "text") node.textContent = String(value);
            else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
            else node.setAttribute(name, value === true ? "" : String(value));
          }
        }

        function append(node, children) {
          for (const child of children.flat(Infinity)) {
            if (child === null || child === undefined || child === false) continue;
            node.append(child instanceof Node ? child : document.createTextNode(String(child)));
          }
        }

        function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

        let idCounter = 0;
        function uid(prefix) { idCounter += 1; return `${prefix}-${idCounter}`; }

        /** Says `text` to screen readers (the polite live region). */
        function announce(text) {
          const region = document.getElementById("announce");
          region.textContent = "";
          setTimeout(() => { region.textContent = text; }, 50);
        }

        function message(kind, text, extra) {
          return el("div", { class: `message ${kind}`, role: kind === "error" ? "alert" : "status" }, text, extra);
        }

        function errorMessage(error) {
          return message("error", describeError(error));
        }

        // MARK: API

        class ApiError extends Error {
          constructor(status, code, text, problems) {
            super(text || code || String(status));
            this.status = status;
            this.code = code;
            this.problems = problems || [];
          }
        }

        function describeError(error) {
          if (!(error instanceof ApiError)) return t("error.unexpected");
          if (error.status === 0) return t("error.unreachable");
          const known = `error.${error.code}`;
          // The server's message (English, never personal data) beside the translated one.
          const text = has(known) ? (error.message ? `${t(known)} (${error.message})` : t(known)) : (error.message || t("error.unexpected"));
          return t("error.status", { status: error.status, text });
        }

        function authHeaders(extra) {
          const headers = Object.assign({}, extra);
          if (S.token) headers.Authorization = `Bearer ${S.token}`;
          return headers;
        }

        /** One API call; answers the parsed JSON, throws ApiError on failure. */
        async function api(method, path, body) {
          const headers = authHeaders({ Accept: "application/json" });
          const init = { method, headers, cache: "no-store" };
          if (body !== undefined) {
            headers["Content-Type"] = "application/json";
            init.body = JSON.stringify(body);
          }
          let response;
          try {
            response = await fetch(path, init);
          } catch (failure) {
            throw new ApiError(0, "unreachable", "", []);
          }
          const text = await response.text();
          let json = null;
          try { json = text ? JSON.parse(text) : null; } catch (failure) { json = null; }
          if (!response.ok) {
            const error = (json && json.error) || {};
            if (response.status === 401 && S.me) {
              signOut(t("login.expired"));
            }
            throw new ApiError(response.status, error.code, error.message, error.problems);
          }
          return json;
        }

        /** A query string from pairs, skipping empty values. */
        function query(pairs) {
          const search = new URLSearchParams();
          for (const [name, value] of pairs) {
            if (value !== null && value !== undefined && value !== "") search.append(name, String(value));
          }
          const text = search.toString();
          return text ? `?${text}` : "";
        }

        /** Fetches CSV with the bearer token and saves it: a plain link cannot carry the token. */
        async function downloadCSV(path, fallbackName, button) {
          if (button) button.disabled = true;
          try {
            const response = await fetch(path, { headers: authHeaders({ Accept: "text/csv" }), cache: "no-store" });
            if (!response.ok) {
              let json = null;
              try { json = await response.json(); } catch (failure) { json = null; }
              const error = (json && json.error) || {};
              throw new ApiError(response.status, error.code, error.message, error.problems);
            }
            const disposition = response.headers.get("Content-Disposition") || "";
            const match = /filename="?([^";]+)"?/.exec(disposition);
            const blob = await response.blob();
            const url = URL.createObjectURL(blob);
            const link = el("a", { href: url, download: match ? match[1] : fallbackName, class: "visually-hidden" });
            document.body.append(link);
            link.click();
            link.remove();
            setTimeout(() => URL.revokeObjectURL(url), 10000);
            announce(t("csv.done", { name: match ? match[1] : fallbackName }));
          } catch (error) {
            announce(describeError(error));
            if (button) button.after(errorMessage(error));
          } finally {
            if (button) button.disabled = false;
          }
        }

        /**
         * A CSV download button. An export is a disclosure the node records in its access log
         * (Act 906/2019 §17), so the button first asks for the purpose, which goes with the
         * request as `purpose=` (a header could not carry every letter of Finnish or Swedish).
         */
        function csvButton(path, name, id) {
          const button = el("button", { type: "button", class: "secondary", id, text: t("csv.download"),
            "aria-expanded": "false", "aria-controls": `${id}-purpose-form` });
          let form = null;
          const close = () => {
            if (form) form.remove();
            form = null;
            button.setAttribute("aria-expanded", "false");
            button.focus();
          };
          button.addEventListener("click", () => {
            if (form) { form.querySelector("input").focus(); return; }
            const input = el("input", { type: "text", id: `${id}-purpose`, name: "purpose", maxlength: "200", required: true,
              autocomplete: "off", "aria-describedby": `${id}-purpose-hint` });
            form = el("form", { class: "purpose-form", id: `${id}-purpose-form`, role: "group", "aria-labelledby": `${id}-purpose-label` },
              el("label", { for: `${id}-purpose`, id: `${id}-purpose-label`, text: t("csv.purpose") }),
              el("p", { class: "hint", id: `${id}-purpose-hint`, text: t("csv.purposeHint") }),
              el("div", { class: "purpose-actions" }, input,
                el("button", { type: "submit", id: `${id}-confirm`, text: t("csv.confirm") }),
                el("button", { type: "button", class: "secondary", id: `${id}-cancel`, text: t("csv.cancel"), onclick: close })));
            form.addEventListener("submit", (event) => {
              event.preventDefault();
              const purpose = input.value.trim();
              if (!purpose) { input.setAttribute("aria-invalid", "true"); input.focus(); return; }
              close();
              downloadCSV(`${path}${path.includes("?") ? "&" : "?"}purpose=${encodeURIComponent(purpose)}`, name, button);
            });
            form.addEventListener("keydown", (event) => { if (event.key === "Escape") close(); });
            button.after(form);
            button.setAttribute("aria-expanded", "true");
            input.focus();
          });
          return button;
        }

        // MARK: Language

        function t(key, params) {
          let text = STRINGS[S.lang][key];
          if (text === undefined) {
            S.missing.add(`${S.lang}:${key}`);
            text = STRINGS.en[key] !== undefined ? STRINGS.en[key] : key;
          }
          if (params) text = text.replace(/\{(\w+)\}/g, (whole, name) => (params[name] !== undefined ? params[name] : whole));
          return text;
        }

        function has(key) { return STRINGS[S.lang][key] !== undefined; }

        function initialLanguage() {
          const saved = localStorage.getItem(LANGUAGE_KEY);
          if (LANGUAGES.includes(saved)) return saved;
          // The server set <html lang> from Accept-Language.
          const served = document.documentElement.lang;
          if (LANGUAGES.includes(served)) return served;
          for (const tag of navigator.languages || [navigator.language || ""]) {
            const primary = tag.slice(0, 2).toLowerCase();
            if (LANGUAGES.includes(primary)) return primary;
          }
          return "fi";
        }

        function setLanguage(language) {
          S.lang = LANGUAGES.includes(language) ? language : "fi";
          localStorage.setItem(LANGUAGE_KEY, S.lang);
          document.documentElement.lang = S.lang;
          document.getElementById("language").value = S.lang;
          render();
        }

        /** A field's label: a kind-specific one (`f.client.status`) before the shared one (`f.status`). */
        function fieldLabel(kind, name) {
          const specific = `f.${kind}.${name}`;
          return has(specific) ? t(specific) : t(`f.${name}`);
        }

        /** A vocabulary value's label (`v.quota_refugee`). */
        function valueLabel(value) {
          return t(`v.${value}`);
        }

        /** A municipality's name in the page's language. In English the Swedish
            name: Swedish is the majority language of the region's five offices. */
        function municipalityName(code) {
          const number = Number(code);
          const found = S.region && S.region.municipalities.find((m) => m.code === number);
          if (!found) return String(code);
          return S.lang === "fi" ? found.nameFi : found.nameSv;
        }

        function municipalityOfNode(node) {
          return S.region && S.region.municipalities.find((m) => m.node === node);
        }

        function nodeLabel(node) {
          const member = municipalityOfNode(node);
          return member ? `${municipalityName(member.code)} (${node})` : node;
        }

        function languageName(code) {
          try {
            const name = new Intl.DisplayNames([S.lang], { type: "language" }).of(code);
            return name && name !== code ? name : code;
          } catch (failure) {
            return code;
          }
        }

        function numberText(value, options) {
          return new Intl.NumberFormat(S.lang, options).format(value);
        }

        function percent(value) {
          return value === null || value === undefined ? "–" : numberText(value, { style: "percent", maximumFractionDigits: 0 });
        }

        /** "2 min ago" in the page's language. */
        function ago(iso) {
          if (!iso) return t("time.never");
          const seconds = Math.round((Date.parse(iso) - Date.now()) / 1000);
          const format = new Intl.RelativeTimeFormat(S.lang, { numeric: "auto", style: "short" });
          const size = Math.abs(seconds);
          if (size < 60) return format.format(seconds, "second");
          if (size < 3600) return format.format(Math.round(seconds / 60), "minute");
          if (size < 86400) return format.format(Math.round(seconds / 3600), "hour");
          return format.format(Math.round(seconds / 86400), "day");
        }

        function clockTime(date) {
          return date.toLocaleTimeString(S.lang === "en" ? "en-GB" : S.lang, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
        }

        /** A field value as text (or a node) for tables and conflict views. */
        /** Shown for a field another municipality's client does not show this office (a minimised view), never an empty name. */
        function minimisedMarker() {
          return el("span", { class: "minimised", title: t("records.minimisedTitle"), text: t("records.minimised") });
        }

        function formatValue(spec, value) {
          if (value === null || value === undefined || value === "" || (Array.isArray(value) && value.length === 0)) return "–";
          switch (spec ? spec.type : typeof value) {
            case "municipalityCode": return municipalityName(value);
            case "municipalityCodes": return (Array.isArray(value) ? value : String(value).split(",")).map(municipalityName).join(", ");
            case "languageCode": return languageName(value);
            case "languageCodes": return (Array.isArray(value) ? value : String(value).split(",")).map(languageName).join(", ");
            case "choice": return valueLabel(value);
            case "bool": case "boolean": return value ? t("common.yes") : t("common.no");
            case "uuid": return el("code", { title: value, text: String(value).slice(0, 8) });
            case "integer": case "number": return numberText(value);
            default: return Array.isArray(value) ? value.join(", ") : String(value);
          }
        }

        // MARK: Schema and region

        async function loadRegion() {
          try {
            S.region = await api("GET", "/v1/region");
          } catch (error) {
            S.region = { region: "", node: "", municipalities: [] };
          }
        }

        async function loadSchema() {
          const answer = await api("GET", "/v1/schema");
          S.schema = {};
          for (const kind of answer.kinds) {
            kind.byName = {};
            for (const field of kind.fields) kind.byName[field.name] = field;
            S.schema[kind.table] = kind;
          }
        }

        /** The field spec of `name` in `table`, or null. */
        function spec(table, name) {
          return (S.schema && S.schema[table] && S.schema[table].byName[name]) || null;
        }

        /** The spec of a report column that names a record field (`permitBasis`, `status`…), from any kind. */
        function specForColumn(key) {
          for (const table of ["clients", "placements", "services"]) {
            const found = spec(table, key);
            if (found) return found;
          }
          return null;
        }

        function kindLabel(table, plural) {
          return t(`kind.${table}${plural ? "" : ".one"}`);
        }

        // MARK: Shell

        const VIEWS = [
          { id: "records", roles: ["office"], render: (main) => renderOffice(main) },
          { id: "tables", roles: ["coordinator"], render: (main) => renderTables(main) },
          { id: "reports", roles: ["coordinator", "office"], render: (main) => renderReports(main) },
          { id: "conflicts", roles: ["coordinator", "office"], render: (main) => renderConflicts(main) },
          { id: "sync", roles: ["admin", "coordinator"], render: (main) => renderSync(main) },
        ];

        function viewsForRole() {
          return S.me ? VIEWS.filter((view) => view.roles.includes(S.me.role)) : [];
        }

        function currentViewID() {
          const hash = location.hash.startsWith("#/") ? location.hash.slice(2).split("/")[0] : "";
          const allowed = viewsForRole();
          const chosen = allowed.find((view) => view.id === hash);
          return (chosen || allowed[0] || { id: null }).id;
        }

        function stopTimers() {
          for (const timer of S.timers) clearInterval(timer);
          S.timers = [];
        }

        function renderShell() {
          document.title = "kotosync";
          document.getElementById("skip-link").textContent = t("shell.skip");
          document.getElementById("language-label").textContent = t("shell.language");
          const logout = document.getElementById("logout");
          logout.textContent = t("shell.logout");
          logout.hidden = !S.me;
          const node = S.region && S.region.node;
          document.getElementById("brand-node").textContent = node ? `· ${nodeLabel(node)}` : "";
          const who = document.getElementById("who");
          who.textContent = S.me ? whoText() : "";
          const nav = document.getElementById("nav");
          clear(nav);
          nav.hidden = !S.me;
          nav.setAttribute("aria-label", t("shell.views"));
          const list = el("ul");
          for (const view of viewsForRole()) {
            list.append(el("li", {}, el("a", {
              href: `#/${view.id}`, id: `nav-${view.id}`, "aria-current": view.id === S.view ? "page" : null,
              text: t(`nav.${view.id}`),
            })));
          }
          nav.append(list);
        }

        function whoText() {
          const role = t(`role.${S.me.role}`);
          const parts = [role];
          if (S.me.municipality !== null && S.me.municipality !== undefined) parts.push(municipalityName(S.me.municipality));
          if (S.me.name) parts.push(S.me.name);
          return parts.join(" · ");
        }

        /** Renders the shell and the view the hash names (or the role's first). */
        function render() {
          stopTimers();
          const main = clear(document.getElementById("main"));
          if (!S.me) {
            S.view = null;
            renderShell();
            renderLogin(main);
            return;
          }
          S.view = currentViewID();
          renderShell();
          document.title = `${t(`nav.${S.view}`)} – kotosync`;
          const view = VIEWS.find((candidate) => candidate.id === S.view);
          if (!view) {
            main.append(el("h1", { text: t("login.noViews") }), el("p", { text: t("login.noViewsHint") }));
            return;
          }
          view.render(main);
        }

        /** A container for one render of a view: async work checks `isConnected` before touching it. */
        function section(main, headingKey, params) {
          const node = el("section", { class: "panel" });
          node.append(el("h1", { text: t(headingKey, params) }));
          main.append(node);
          return node;
        }

        // MARK: Sign-in

        function renderLogin(main) {
          const wrap = el("div", { class: "login" });
          const error = S.state.loginError;
          const input = el("input", {
            id: "token", name: "token", type: "password", autocomplete: "off", spellcheck: "false",
            required: true, "aria-describedby": "token-hint",
          });
          const form = el("form", { id: "login-form", novalidate: true },
            el("label", { for: "token", text: t("login.token") }),
            el("p", { class: "lead", id: "token-hint", text: t("login.hint") }),
            input,
            el("div", { class: "form-actions" }, el("button", { type: "submit", id: "login-submit", text: t("login.submit") })));
          form.addEventListener("submit", (event) => {
            event.preventDefault();
            signIn(input.value.trim());
          });
          wrap.append(el("h1", { text: t("login.title") }), el("p", { class: "lead", text: t("login.intro") }));
          if (error) wrap.append(message("error", error));
          wrap.append(form);
          if (S.region && S.region.municipalities.length) {
            wrap.append(el("h2", { text: t("login.region") }),
              el("ul", { id: "region-list" }, S.region.municipalities.map((m) => el("li", { text: municipalityName(m.code) }))));
          }
          main.append(wrap);
          input.focus();
        }

        async function signIn(token) {
          if (!token) {
            S.state.loginError = t("login.empty");
            render();
            return;
          }
          S.token = token;
          try {
            const me = await api("GET", "/v1/whoami");
            // Machines' credentials (a node's, a metrics scraper's) open no page.
            if (me.role === "peer" || me.role === "scrape") throw new ApiError(403, "machine_token", "", []);
            S.me = me;
            await loadSchema();
            sessionStorage.setItem(TOKEN_KEY, token);
            S.state = {};
            announce(t("login.done", { who: whoText() }));
          } catch (error) {
            S.token = null;
            S.me = null;
            sessionStorage.removeItem(TOKEN_KEY);
            S.state.loginError = error.status === 401 ? t("login.refused")
              : error.code === "machine_token" ? t("login.peer") : describeError(error);
          }
          render();
          if (S.me) document.getElementById("main").focus();
        }

        function signOut(reason) {
          stopTimers();
          S.token = null;
          S.me = null;
          S.schema = null;
          S.state = { loginError: reason || null };
          sessionStorage.removeItem(TOKEN_KEY);
          if (location.hash) history.replaceState(null, "", location.pathname);
          render();
          if (!reason) announce(t("login.signedOut"));
        }
        """#
}

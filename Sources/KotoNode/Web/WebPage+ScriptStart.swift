extension WebPage {
    /// Start-up: wires the header (language, sign-out, skip link) and the
    /// hash navigation, learns the region, and resumes a session whose token
    /// is still in session storage.
    static let scriptStart = #"""
        // MARK: Start

        async function start() {
          S.lang = initialLanguage();
          document.documentElement.lang = S.lang;
          const language = document.getElementById("language");
          language.value = S.lang;
          language.addEventListener("change", () => {
            setLanguage(language.value);
            announce(t("shell.languageChanged"));
            language.focus();
          });
          document.getElementById("logout").addEventListener("click", () => signOut());
          document.getElementById("skip-link").addEventListener("click", (event) => {
            event.preventDefault();
            document.getElementById("main").focus();
          });
          window.addEventListener("hashchange", () => {
            if (!location.hash.startsWith("#/")) return;   // in-page links (#f-field) are not views
            // A view opened anew shows fresh data; a language switch keeps what is shown.
            for (const value of Object.values(S.state)) {
              if (value && typeof value === "object" && "page" in value) value.page = null;
            }
            if (S.state.office) S.state.office.mode = "list";
            render();
            document.getElementById("main").focus();
          });
          await loadRegion();
          if (S.token) {
            try {
              S.me = await api("GET", "/v1/whoami");
              await loadSchema();
            } catch (error) {
              S.me = null;
              S.token = null;
              sessionStorage.removeItem(TOKEN_KEY);
            }
          }
          render();
          document.body.setAttribute("data-ready", "true");
        }

        start();
        """#
}

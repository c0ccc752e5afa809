extension WebPage {
    /// The page's shell: the script fills in every label (in the chosen
    /// language) and the views. `{{lang}}` becomes the language that
    /// `Accept-Language` prefers. No inline script or style (the CSP forbids them).
    static let html = #"""
        <!DOCTYPE html>
        <html lang="{{lang}}">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="no-referrer">
        <title>kotosync</title>
        <link rel="stylesheet" href="/assets/app.css">
        <script src="/assets/app.js" defer></script>
        </head>
        <body>
        <a class="skip-link" id="skip-link" href="#main">Siirry sisältöön</a>
        <header class="top">
          <div class="brand"><span class="brand-name">kotosync</span> <span class="brand-node" id="brand-node"></span></div>
          <div class="top-controls">
            <label for="language" id="language-label">Kieli</label>
            <select id="language">
              <option value="fi" lang="fi">suomi</option>
              <option value="sv" lang="sv">svenska</option>
              <option value="en" lang="en">English</option>
            </select>
            <span class="who" id="who"></span>
            <button type="button" id="logout" class="secondary" hidden>Kirjaudu ulos</button>
          </div>
        </header>
        <nav id="nav" class="views" hidden></nav>
        <main id="main" tabindex="-1">
          <noscript>
            <p lang="fi">Sivu tarvitsee JavaScriptin.</p>
            <p lang="sv">Sidan behöver JavaScript.</p>
            <p lang="en">This page needs JavaScript.</p>
          </noscript>
        </main>
        <div id="announce" class="visually-hidden" role="status" aria-live="polite"></div>
        </body>
        </html>
        """#
}

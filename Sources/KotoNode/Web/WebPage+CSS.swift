extension WebPage {
    /// The page's styles. Colours meet WCAG AA: text at least 4.5:1 on its
    /// background, chart marks and focus rings at least 3:1; states are
    /// always named in text too, never by colour alone.
    static let css = #"""
        :root {
          --ink: #1b1f24; --muted: #4a5461; --paper: #ffffff; --wash: #f3f5f8; --line: #c5ccd6;
          --accent: #0b5cad; --accent-ink: #ffffff; --focus: #c2410c;
          --ok-ink: #0d5e26; --ok-bg: #e2f3e7; --ok-mark: #1e7b3a;
          --warn-ink: #6e4700; --warn-bg: #fff1cc; --warn-mark: #8a5a00;
          --bad-ink: #9b1c1c; --bad-bg: #fde8e8; --bad-mark: #c53030;
          --target: #6b21a8;
          font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif;
          font-size: 16px; line-height: 1.45; color: var(--ink); background: var(--paper);
        }
        * { box-sizing: border-box; }
        body { margin: 0; }
        h1 { font-size: 1.45rem; margin: 0 0 .5rem; }
        h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; }
        h3 { font-size: 1.05rem; margin: 1.25rem 0 .4rem; }
        p { margin: .4rem 0; }
        a { color: var(--accent); }
        code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .9em; }

        .skip-link { position: absolute; left: .5rem; top: -3rem; background: var(--accent); color: var(--accent-ink);
          padding: .5rem .75rem; z-index: 10; border-radius: 0 0 4px 4px; }
        .skip-link:focus { top: 0; }
        .visually-hidden { position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
          white-space: nowrap; border: 0; padding: 0; margin: -1px; }
        :focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
        main:focus { outline: none; }

        .top { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: .5rem 1rem;
          padding: .6rem 1.25rem; background: #12263f; color: #ffffff; }
        .top :focus-visible { outline-color: #ffb86b; }
        .brand-name { font-weight: 700; font-size: 1.15rem; letter-spacing: .02em; }
        .brand-node { color: #d3dce8; }
        .top-controls { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem; }
        .top select { padding: .25rem .4rem; }
        .who { color: #e6ebf2; }

        nav.views { background: var(--wash); border-bottom: 1px solid var(--line); padding: 0 1.25rem; }
        nav.views ul { list-style: none; display: flex; flex-wrap: wrap; gap: .25rem; margin: 0; padding: 0; }
        nav.views a { display: inline-block; padding: .6rem .9rem; color: var(--ink); text-decoration: none;
          border-bottom: 3px solid transparent; }
        nav.views a:hover { text-decoration: underline; }
        nav.views a[aria-current="page"] { border-bottom-color: var(--accent); font-weight: 600; color: var(--accent); }

        main { padding: 1rem 1.25rem; max-width: 1400px; }
        section.panel { margin-bottom: 1.5rem; }
        .lead { color: var(--muted); }

        button, .button { font: inherit; padding: .4rem .8rem; border-radius: 4px; border: 1px solid var(--accent);
          background: var(--accent); color: var(--accent-ink); cursor: pointer; }
        button.secondary { background: var(--paper); color: var(--accent); }
        .top button.secondary { background: transparent; color: #ffffff; border-color: #ffffff; }
        button:disabled { background: #d7dce3; border-color: #b2bac6; color: #3c4450; cursor: not-allowed; }
        button[aria-pressed="true"] { background: #12263f; border-color: #12263f; color: #ffffff; }
        button.link { background: none; border: none; color: var(--accent); padding: 0; text-decoration: underline; }

        label { font-weight: 600; }
        input, select, textarea { font: inherit; padding: .35rem .5rem; border: 1px solid #6b7785; border-radius: 4px;
          background: var(--paper); color: var(--ink); }
        input[aria-invalid="true"], select[aria-invalid="true"], fieldset[aria-invalid="true"] { border: 2px solid var(--bad-mark); }
        fieldset { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .9rem; margin: 0 0 1rem; }
        legend { font-weight: 600; padding: 0 .3rem; }
        .toolbar { display: flex; flex-wrap: wrap; align-items: flex-end; gap: .5rem 1rem; margin: .4rem 0 .6rem; }
        fieldset.filters { display: flex; flex-wrap: wrap; align-items: flex-end; gap: .3rem 1.5rem; padding: .2rem .9rem .5rem; }
        fieldset.filters .toolbar { margin: 0; }
        p.hint { font-size: .85rem; margin: -.2rem 0 .6rem; }
        .purpose-form { display: flex; flex-direction: column; gap: .3rem; margin: .4rem 0; padding: .5rem .8rem;
          border: 1px solid var(--line); border-radius: 6px; background: var(--paper); }
        .purpose-form p.hint { margin: 0; }
        .purpose-actions { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; }
        .purpose-actions input { min-width: 18rem; }
        .toolbar .control { display: flex; flex-direction: column; gap: .2rem; }
        .inline { display: inline-flex; align-items: center; gap: .35rem; font-weight: normal; }
        .chips { display: flex; flex-wrap: wrap; gap: .4rem; list-style: none; padding: 0; margin: .3rem 0; }
        .chips li { background: var(--wash); border: 1px solid var(--line); border-radius: 999px; padding: .15rem .3rem .15rem .7rem; }
        .chips button { padding: .05rem .45rem; margin-left: .3rem; }

        .table-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
        table { border-collapse: collapse; width: 100%; font-size: .93rem; }
        caption { text-align: left; font-weight: 600; padding: .5rem .6rem; }
        th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #e1e5ea; vertical-align: top; }
        thead th { background: var(--wash); border-bottom: 2px solid var(--line); white-space: nowrap; }
        td.date { white-space: nowrap; }
        td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
        tbody tr:nth-child(even) { background: #fafbfc; }
        .table-heading { display: flex; flex-wrap: wrap; align-items: center; gap: .4rem 1rem; margin: 1.2rem 0 .5rem; }
        .table-heading h2 { margin: 0; }
        .pager { display: flex; align-items: center; gap: .75rem; margin: .6rem 0; }
        .empty { color: var(--muted); font-style: italic; }

        .badge { display: inline-block; padding: .05rem .55rem; border-radius: 999px; font-weight: 600; border: 1px solid; }
        .badge.ok { color: var(--ok-ink); background: var(--ok-bg); border-color: var(--ok-mark); }
        .badge.warn { color: var(--warn-ink); background: var(--warn-bg); border-color: var(--warn-mark); }
        .minimised { font-style: italic; color: var(--muted); }
        .badge.bad { color: var(--bad-ink); background: var(--bad-bg); border-color: var(--bad-mark); }

        .message { padding: .6rem .9rem; border-radius: 6px; margin: .6rem 0; border: 1px solid; }
        .message.error { color: var(--bad-ink); background: var(--bad-bg); border-color: var(--bad-mark); }
        .message.success { color: var(--ok-ink); background: var(--ok-bg); border-color: var(--ok-mark); }
        .message.info { color: var(--ink); background: var(--wash); border-color: var(--line); }
        .message ul { margin: .3rem 0 0; padding-left: 1.2rem; }

        .login { max-width: 34rem; margin: 2rem auto; }
        .login form { display: flex; flex-direction: column; gap: .5rem; }
        .login input { width: 100%; }

        .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(15rem, 1fr)); gap: .75rem 1.25rem; }
        .field { display: flex; flex-direction: column; gap: .2rem; }
        .field .hint { color: var(--muted); font-size: .85rem; }
        .field-error { color: var(--bad-ink); font-weight: 600; font-size: .9rem; margin: 0; }
        .field-error::before { content: "⚠ "; }
        .form-actions { display: flex; gap: .6rem; margin-top: 1rem; }
        .required-mark { color: var(--bad-ink); }

        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .5rem 0; }
        dl.facts dt { font-weight: 600; }
        dl.facts dd { margin: 0; }

        .charts { display: flex; flex-wrap: wrap; gap: 1.5rem; margin: .5rem 0 1rem; }
        figure.chart { margin: 0; padding: .6rem; border: 1px solid var(--line); border-radius: 6px; background: var(--paper); }
        figure.chart figcaption { font-weight: 600; margin-bottom: .3rem; }
        svg text { font-family: inherit; fill: var(--ink); }
        svg text.on-bar { fill: #ffffff; }
        .legend { display: flex; flex-wrap: wrap; gap: .3rem 1rem; list-style: none; padding: 0; margin: .3rem 0 0; font-size: .9rem; }
        .legend .swatch { display: inline-block; width: .9rem; height: .9rem; border-radius: 2px; margin-right: .3rem;
          vertical-align: -.1rem; border: 1px solid var(--ink); }
        .swatch.ok { background: var(--ok-mark); } .swatch.warn { background: var(--warn-mark); }
        .swatch.bad { background: var(--bad-mark); } .swatch.bar { background: var(--accent); }
        .swatch.target { background: var(--target); }

        .conflict { border: 1px solid var(--line); border-radius: 6px; padding: .8rem 1rem; margin-bottom: 1rem; }
        .conflict h2 { margin-top: 0; }
        .versions { display: grid; grid-template-columns: repeat(auto-fit, minmax(14rem, 1fr)); gap: .75rem; }
        .version { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; background: var(--wash); }
        .version.winner { border: 2px solid var(--accent); background: var(--paper); }
        .version .value { font-size: 1.1rem; font-weight: 600; margin: .3rem 0 .5rem; word-break: break-word; }
        .version .meta { color: var(--muted); font-size: .85rem; }

        .sync-summary { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
        .sync-summary > div { flex: 1 1 22rem; }

        @media print { .top, nav.views, .toolbar, .pager, button { display: none !important; } }
        """#
}

extension WebPage {
    /// The admin's view of `GET /v1/status`: this node and every peer link,
    /// refreshed every few seconds, each state green / amber / red and named
    /// in words, with lag, last success, last error, forks and divergence,
    /// and a drawing of this node's links.
    static let scriptSync = #"""
        // MARK: Sync state

        const REFRESH_SECONDS = 5;

        /** ok / warn / bad for one peer link, with the reason in words. */
        function linkHealth(peer) {
          if (peer.state === "forked" || peer.fork) return { level: "bad", reason: t("health.forked") };
          if (peer.diverged || peer.state === "diverged") return { level: "bad", reason: t("health.diverged") };
          if (peer.state === "refused") return { level: "bad", reason: t("health.refused") };
          if (peer.state === "backing off") {
            return peer.consecutiveFailures >= 5 ? { level: "bad", reason: t("health.failing", { n: peer.consecutiveFailures }) }
              : { level: "warn", reason: t("health.retrying", { n: peer.consecutiveFailures }) };
          }
          const last = peer.lastSuccess ? Date.parse(peer.lastSuccess) : null;
          const stale = last === null || Date.now() - last > 15 * 60 * 1000;
          if (peer.state === "idle") return { level: "warn", reason: t("health.idle") };
          if (peer.state === "passive" && stale) return { level: "warn", reason: t("health.passiveQuiet") };
          if (peer.state === "ok" && stale) return { level: "warn", reason: t("health.stale") };
          return { level: "ok", reason: peer.state === "passive" ? t("health.passive") : t("health.ok") };
        }

        function nodeHealth(status) {
          if (status.ownFork) return { level: "bad", reason: t("health.ownFork") };
          if (!status.acceptingWrites) return { level: "warn", reason: t("health.notWriting") };
          if (status.catchingUp) return { level: "warn", reason: t("health.catchingUp") };
          if (status.clockSkew) return { level: "warn", reason: t("health.clockSkew", { seconds: numberText(status.clockSkew.offsetSeconds) }) };
          return { level: "ok", reason: t("health.nodeOk") };
        }

        function badge(health) {
          return el("span", { class: `badge ${health.level}`, text: t(`level.${health.level}`) });
        }

        function renderSync(main) {
          if (!S.state.sync) S.state.sync = { paused: false, status: null, error: null, updated: null };
          const state = S.state.sync;
          const panel = section(main, "sync.title");
          const pause = el("button", { type: "button", class: "secondary", id: "sync-pause", "aria-pressed": state.paused ? "true" : "false",
                                       text: t("sync.pause") });
          pause.addEventListener("click", () => {
            state.paused = !state.paused;
            pause.setAttribute("aria-pressed", state.paused ? "true" : "false");
            drawUpdated();
          });
          const updated = el("p", { class: "lead", id: "sync-updated" });
          const drawUpdated = () => {
            updated.textContent = state.paused ? t("sync.paused") : t("sync.every", { seconds: REFRESH_SECONDS, time: state.updated ? clockTime(state.updated) : "–" });
          };
          panel.append(el("div", { class: "toolbar" }, updated, pause));
          const body = el("div", { id: "sync-body" });
          panel.append(body);
          const draw = () => {
            drawUpdated();
            clear(body);
            if (state.error) body.append(errorMessage(state.error));
            if (state.status) drawStatus(body, state.status); else if (!state.error) body.append(el("p", { text: t("common.loading") }));
          };
          const load = async () => {
            try {
              state.status = await api("GET", "/v1/status");
              state.error = null;
              state.updated = new Date();
            } catch (error) {
              state.error = error;
            }
            if (body.isConnected) draw();
          };
          draw();
          load();
          S.timers.push(setInterval(() => { if (!state.paused) load(); }, REFRESH_SECONDS * 1000));
        }

        function drawStatus(body, status) {
          const health = nodeHealth(status);
          const facts = el("dl", { class: "facts", id: "node-facts" },
            el("dt", { text: t("sync.node") }), el("dd", { text: nodeLabel(status.node) }),
            el("dt", { text: t("sync.state") }), el("dd", {}, badge(health), " ", health.reason),
            el("dt", { text: t("sync.logPosition") }), el("dd", { text: numberText(status.logPosition) }),
            el("dt", { text: t("sync.seq") }), el("dd", { text: numberText(status.seq) }),
            el("dt", { text: t("sync.conflicts") }), el("dd", { text: numberText(status.conflicts) }),
            el("dt", { text: t("sync.acceptingWrites") }), el("dd", { text: status.acceptingWrites ? t("common.yes") : t("common.no") }),
            el("dt", { text: t("sync.ownFork") }), el("dd", { text: status.ownFork || t("common.none") }),
            el("dt", { text: t("sync.clockSkew") }), el("dd", { text: status.clockSkew ? t("sync.skewValue", { seconds: numberText(status.clockSkew.offsetSeconds), peers: status.clockSkew.peers }) : t("common.none") }),
            el("dt", { text: t("sync.digest") }), el("dd", {}, el("code", { title: status.stateDigest, text: String(status.stateDigest || "").slice(0, 16) }),
              status.stateDigestProvisional ? ` (${t("sync.provisional")})` : ""),
            el("dt", { text: t("sync.versions") }), el("dd", { text: t("sync.versionsValue", { schema: status.schemaVersion, protocol: status.protocolVersion }) }));
          const rows = status.peers.map((peer) => {
            const link = linkHealth(peer);
            return el("tr", { "data-node": peer.node, "data-level": link.level },
              el("th", { scope: "row", text: nodeLabel(peer.node) }),
              el("td", { text: t(`mode.${peer.mode}`) }),
              el("td", {}, badge(link), " ", el("span", { text: `${link.reason} (${peer.state})` })),
              el("td", { class: "number", text: numberText(peer.lag) }),
              el("td", {}, peer.lastSuccess ? el("time", { datetime: peer.lastSuccess, title: peer.lastSuccess, text: ago(peer.lastSuccess) }) : t("time.never")),
              el("td", { class: "number", text: numberText(peer.consecutiveFailures) }),
              el("td", { text: peer.fork ? `${peer.fork.origin}:${peer.fork.seq}` : t("common.none") }),
              el("td", { text: peer.diverged ? t("common.yes") : t("common.no") }),
              el("td", { class: "last-error", text: peer.lastError || "–" }));
          });
          body.append(el("h2", { text: t("sync.peers") }),
            el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-labelledby": "peers-caption" },
              el("table", { id: "peers-table" },
                el("caption", { id: "peers-caption", class: "visually-hidden", text: t("sync.peers") }),
                el("thead", {}, el("tr", {}, ["sync.peer", "sync.mode", "sync.state", "sync.lag", "sync.lastSuccess", "sync.failures", "sync.fork", "sync.diverged", "sync.lastError"]
                  .map((key) => el("th", { scope: "col", text: t(key) })))),
                el("tbody", {}, rows))));
          const summary = el("div", { class: "sync-summary" },
            el("div", {}, el("h2", { text: t("sync.thisNode") }), facts),
            el("div", {}, el("h2", { text: t("sync.links") }), linkDrawing(status)));
          body.append(summary);

        }

        const LEVEL_COLOURS = { ok: "#1e7b3a", warn: "#8a5a00", bad: "#c53030" };

        /** The region's members in a circle, this node's links drawn in their state's colour (dashed when passive). */
        function linkDrawing(status) {
          const members = (S.region && S.region.municipalities.length) ? S.region.municipalities.map((m) => m.node)
            : [status.node].concat(status.peers.map((peer) => peer.node));
          const size = 300, centre = size / 2, radius = 105;
          const position = new Map(members.map((node, index) => {
            const angle = -Math.PI / 2 + (2 * Math.PI * index) / members.length;
            return [node, { x: centre + radius * Math.cos(angle), y: centre + radius * Math.sin(angle) }];
          }));
          const drawing = svg("svg", { viewBox: `0 0 ${size} ${size}`, width: size, height: size, id: "links-drawing" });
          const here = position.get(status.node) || { x: centre, y: centre };
          for (const peer of status.peers) {
            const there = position.get(peer.node);
            if (!there) continue;
            const link = linkHealth(peer);
            drawing.append(svg("line", { class: `edge ${link.level}`, "data-node": peer.node, x1: here.x, y1: here.y, x2: there.x, y2: there.y,
                                         stroke: LEVEL_COLOURS[link.level], "stroke-width": 4, "stroke-dasharray": peer.mode === "passive" ? "8 5" : null },
              svg("title", { text: `${nodeLabel(status.node)} – ${nodeLabel(peer.node)}: ${t(`level.${link.level}`)}, ${link.reason}` })));
          }
          for (const node of members) {
            const at = position.get(node);
            const isHere = node === status.node;
            const member = municipalityOfNode(node);
            const label = member ? municipalityName(member.code) : node;
            drawing.append(svg("g", { class: "member", "data-node": node },
              svg("circle", { cx: at.x, cy: at.y, r: isHere ? 16 : 12, fill: isHere ? "#12263f" : "#ffffff", stroke: "#12263f", "stroke-width": 2 }),
              svg("text", { x: at.x, y: at.y + (at.y < centre ? -22 : 30), "text-anchor": "middle", "font-size": 13, "font-weight": isHere ? 700 : 400, text: label })));
          }
          return figure("links-figure", t("sync.drawing"), drawing,
            [["ok", t("level.ok")], ["warn", t("level.warn")], ["bad", t("level.bad")]]);
        }
        """#
}

// The host's analytics report (GET /api/rooms/{room}/report) drawn as panels: the host console's
// live diagnosis and the printable report page share it. Plain SVG charts (charts.js), no
// dependencies; every figure is the server's, shown as it comes (docs/analytics.md).

import { BarChart, Funnel } from "./charts.js";
import { el, yuan } from "./demo.js";

const NS = "http://www.w3.org/2000/svg";

function pct(share) {
  return share === null || share === undefined ? "–" : `${(share * 100).toFixed(1)}%`;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

function hhmm(epochSeconds) {
  const d = new Date(epochSeconds * 1000);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

function kpi(label, value, testid, sub = "") {
  return el("div", { class: "kpi" }, [
    el("div", { class: "kpi-label", text: label }),
    el("div", { class: "kpi-value", "data-testid": testid, text: String(value) }),
    sub ? el("div", { class: "kpi-sub", text: sub }) : null,
  ]);
}

function panel(title, testid, body) {
  return el("figure", { class: "panel chart-panel", "data-testid": testid }, [el("figcaption", { text: title }), body]);
}

function bars(host, data, color) {
  const chart = new BarChart(host, { height: 140, color });
  // drawn once the panel is in the page, so that it knows its width
  requestAnimationFrame(() => chart.draw(data));
  return host;
}

function table(headers, rows, testid) {
  return el("table", { class: "an-table", "data-testid": testid }, [
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { text: h })))),
    el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c) => el("td", { text: String(c) }))))),
  ]);
}

/** Clicks per card per minute as a grid of cells, darker for more clicks. */
function heatmap(report) {
  const { minutes, cards } = report.heatmap;
  const box = el("div", { class: "an-heat", "data-testid": "an-heatmap" });
  if (!cards.length || !minutes.length) {
    box.append(el("p", { class: "empty", text: "No card clicks yet." }));
    return box;
  }
  const cell = 22;
  const labelW = 90;
  const W = labelW + minutes.length * cell + 10;
  const H = cards.length * cell + 24;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  svg.setAttribute("class", "chart");
  const top = Math.max(1, ...cards.flatMap((c) => c.clicks));
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  cards.forEach((card, row) => {
    add("text", { x: labelW - 6, y: row * cell + 15, class: "label", "text-anchor": "end" }, card.sku);
    card.clicks.forEach((n, col) => {
      const rect = add("rect", { x: labelW + col * cell, y: row * cell, width: cell - 2, height: cell - 2, rx: 3, fill: "#ff2d55", opacity: n ? 0.15 + (0.85 * n) / top : 0.05 });
      rect.dataset.clicks = String(n);
      add("title", {}, `${card.sku} ${hhmm(minutes[col])}: ${n}`);
      if (n) add("text", { x: labelW + col * cell + (cell - 2) / 2, y: row * cell + 14, class: "value", "text-anchor": "middle" }, String(n));
    });
  });
  minutes.forEach((m, col) => {
    if (col % Math.ceil(minutes.length / 8) === 0) add("text", { x: labelW + col * cell, y: H - 6, class: "axis" }, hhmm(m));
  });
  box.append(svg);
  return box;
}

/** Every panel of ``report``, replacing what ``root`` held. */
export function renderReport(root, report) {
  const a = report.audience;
  const w = report.watch;
  const m = report.money;
  const i = report.interaction;
  const s = report.sources;
  root.replaceChildren(
    el("div", { class: "kpis an-kpis" }, [
      kpi("Online / peak", `${a.online} / ${a.peak}`, "an-online", "viewers, two tabs count once"),
      kpi("Unique viewers", a.unique_viewers, "an-unique", `${a.entries} entries · ${a.exits} exits`),
      kpi("Average watch", duration(w.average_s), "an-avg-watch", `median ${duration(w.median_s)}`),
      kpi("Interaction rate", pct(i.rate), "an-interaction", `${i.comments} comments · ${i.likes} likes · ${i.shares} shares`),
      kpi("GMV", `¥${yuan(m.gmv)}`, "an-gmv", `${m.orders} orders · UV value ¥${m.uv_value === null ? "–" : yuan(m.uv_value)}`),
      kpi("ROI", m.roi === null ? "–" : m.roi.toFixed(2), "an-roi", `ad spend ¥${yuan(m.ad_spend)}`),
    ]),
    el("div", { class: "charts" }, [
      panel("Viewers per minute", "an-minutes", bars(el("div"), report.minutes.slice(-30).map((r) => ({ label: hhmm(r.minute), value: r.viewers })), "#6b7cff")),
      panel("Interaction per minute (comments + likes + shares)", "an-interaction-minutes", bars(el("div"), report.minutes.slice(-30).map((r) => ({ label: hhmm(r.minute), value: r.comments + r.likes + r.shares })), "#ff7a3d")),
      panel("Retention (% still watching after)", "an-retention", bars(el("div"), Object.entries(w.retention).map(([min, share]) => ({ label: `${min}m`, value: Math.round((share || 0) * 100) })), "#35d07f")),
      panel(`Traffic sources · private ${pct(s.private_share)}`, "an-sources", bars(el("div"), Object.entries(s.by_source).map(([src, n]) => ({ label: src, value: n })), "#ffb547")),
      panel("Conversion funnel", "an-funnel", (() => {
        const host = el("div");
        const f = report.funnel;
        const chart = new Funnel(host);
        requestAnimationFrame(() => chart.draw([
          { label: "exposed", value: f.exposures },
          { label: "clicked", value: f.clickers },
          { label: "buy tried", value: f.buyers_tried },
          { label: "reserved", value: f.buyers_reserved },
          { label: "paid", value: f.buyers_paid },
        ]));
        return host;
      })()),
      panel(`Group buys · formed ${pct(report.groups.form_rate)}`, "an-groups", bars(el("div"), ["started", "joined", "formed", "failed"].map((step) => ({ label: step, value: report.groups[step] })), "#c86bff")),
      panel("Click heat map (card × minute)", "an-heat", heatmap(report)),
      panel("GMV and ROI by hour", "an-hours", el("div", {}, [
        bars(el("div"), m.hours.map((h) => ({ label: hhmm(h.hour), value: h.gmv / 100 })), "#ff2d55"),
        table(
          ["hour", "GMV ¥", "ad spend ¥", "ROI"],
          m.hours.map((h) => [hhmm(h.hour), yuan(h.gmv), yuan(h.ad_spend), h.roi === null ? "–" : h.roi.toFixed(2)]),
          "an-hours-table",
        ),
      ])),
    ]),
    panel("Products", "an-products", table(
      ["card", "exposed", "clicks", "clickers", "tried", "reserved", "paid", "units", "GMV ¥", "AOV ¥"],
      report.products.map((p) => [p.sku, p.exposures, p.clicks, p.clickers, p.buyers_tried, p.buyers_reserved, p.buyers_paid, p.units, yuan(p.gmv), p.aov === null ? "–" : yuan(p.aov)]),
      "an-products-table",
    )),
    el("div", { class: "charts" }, [
      panel("New / returning", "an-returning", table(["new", "returning"], [[report.returning.new ?? "n/a", report.returning.returning ?? "n/a"]], "an-returning-table")),
      panel("Followers / others", "an-followers", table(["followers", "others"], [[report.followers.followers, report.followers.others]], "an-followers-table")),
      ...["region", "age", "gender"].map((facet) => panel(`Audience: ${facet} (k = ${report.profile.k})`, `an-profile-${facet}`, table(["value", "viewers"], Object.entries(report.profile[facet]), `an-profile-${facet}-table`))),
    ]),
  );
  root.dataset.generated = String(report.generated);
}

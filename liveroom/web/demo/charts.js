// Hand-drawn SVG charts for the host console: a time-series line chart, a bar chart and a funnel.
// No dependencies. Every label goes in through textContent.

const NS = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs = {}, text = null) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== null) node.textContent = text;
  return node;
}

/** A "nice" axis top for counts: four ticks of 1, 2 or 5 × 10^n, at or above ``v``. */
export function niceMax(v) {
  const step = Math.max(v / 4, 1);
  const p = 10 ** Math.floor(Math.log10(step));
  for (const m of [1, 2, 5, 10]) if (m * p >= step) return 4 * m * p;
  return 40 * p;
}

function fmt(n) {
  if (Math.abs(n) >= 10000) return `${(n / 1000).toFixed(0)}k`;
  if (Math.abs(n) >= 1000) return `${(n / 1000).toFixed(1)}k`;
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

function hhmmss(t) {
  const d = new Date(t);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

/**
 * Lines over time. ``series``: [{name, color, points: [[ms, value], ...], dashed, area, step}].
 * The x axis covers the last ``windowMs``; the y axis starts at 0.
 */
export class LineChart {
  constructor(host, { windowMs = 5 * 60_000, height = 150, unit = "" } = {}) {
    this.host = host;
    this.windowMs = windowMs;
    this.height = height;
    this.unit = unit;
    this.svg = svgEl("svg", { class: "chart", role: "img", preserveAspectRatio: "none" });
    host.append(this.svg);
  }

  draw(series, now = Date.now()) {
    const W = Math.max(this.host.clientWidth || 320, 200);
    const H = this.height;
    const pad = { l: 34, r: 10, t: 10, b: 20 };
    const svg = this.svg;
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("width", W);
    svg.setAttribute("height", H);
    svg.replaceChildren();
    // The window grows with the data, from one minute up to ``windowMs``: a console opened a
    // moment ago shows its few points across the chart, not squeezed against the right edge.
    let first = now;
    for (const s of series) if (s.points.length) first = Math.min(first, s.points[0][0]);
    const span = Math.min(this.windowMs, Math.max(60_000, now - first));
    const t0 = now - span;
    let top = 0;
    for (const s of series) for (const [t, v] of s.points) if (t >= t0 - 60_000) top = Math.max(top, v);
    const yMax = niceMax(top * 1.1);
    const x = (t) => pad.l + ((t - t0) / span) * (W - pad.l - pad.r);
    const y = (v) => H - pad.b - (v / yMax) * (H - pad.t - pad.b);

    for (let i = 0; i <= 4; i += 1) {
      const v = (yMax * i) / 4;
      svg.append(svgEl("line", { x1: pad.l, x2: W - pad.r, y1: y(v), y2: y(v), class: "grid" }));
      svg.append(svgEl("text", { x: pad.l - 6, y: y(v) + 3, class: "axis", "text-anchor": "end" }, fmt(v)));
    }
    const step = span / 4;
    for (let i = 0; i <= 4; i += 1) {
      const t = t0 + i * step;
      svg.append(svgEl("text", { x: x(t), y: H - 5, class: "axis", "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" }, hhmmss(t)));
    }
    const clip = `clip-${Math.random().toString(36).slice(2)}`;
    const defs = svgEl("defs");
    const cp = svgEl("clipPath", { id: clip });
    cp.append(svgEl("rect", { x: pad.l, y: 0, width: W - pad.l - pad.r, height: H }));
    defs.append(cp);
    svg.append(defs);

    for (const s of series) {
      const pts = s.points.filter(([t]) => t >= t0 - step);
      if (!pts.length) continue;
      // Extend the last value to "now": these are levels, not samples that stop.
      const last = pts[pts.length - 1];
      const ext = [...pts, [now, last[1]]];
      const coords = [];
      ext.forEach(([t, v], i) => {
        if (s.step && i > 0) coords.push([x(t), y(ext[i - 1][1])]);
        coords.push([x(t), y(v)]);
      });
      const d = coords.map(([a, b], i) => `${i ? "L" : "M"}${a.toFixed(1)},${b.toFixed(1)}`).join("");
      const g = svgEl("g", { "clip-path": `url(#${clip})` });
      if (s.area) {
        const area = `${d}L${coords[coords.length - 1][0].toFixed(1)},${y(0)}L${coords[0][0].toFixed(1)},${y(0)}Z`;
        g.append(svgEl("path", { d: area, fill: s.color, opacity: 0.14 }));
      }
      g.append(svgEl("path", { d, fill: "none", stroke: s.color, "stroke-width": s.dashed ? 1.5 : 2.2, "stroke-dasharray": s.dashed ? "5 4" : "none", "stroke-linejoin": "round" }));
      if (!s.dashed) g.append(svgEl("circle", { cx: x(now), cy: y(last[1]), r: 3.5, fill: s.color }));
      svg.append(g);
    }
  }
}

/** Vertical bars with labels under them: [{label, value, color?}]. */
export class BarChart {
  constructor(host, { height = 150, color = "#ff2d55" } = {}) {
    this.host = host;
    this.height = height;
    this.color = color;
    this.svg = svgEl("svg", { class: "chart", role: "img" });
    host.append(this.svg);
  }

  draw(bars) {
    const W = Math.max(this.host.clientWidth || 320, 200);
    const H = this.height;
    const pad = { l: 34, r: 10, t: 14, b: 20 };
    const svg = this.svg;
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("width", W);
    svg.setAttribute("height", H);
    svg.replaceChildren();
    const yMax = niceMax(Math.max(0, ...bars.map((b) => b.value)) * 1.1);
    const y = (v) => H - pad.b - (v / yMax) * (H - pad.t - pad.b);
    for (let i = 0; i <= 4; i += 1) {
      const v = (yMax * i) / 4;
      svg.append(svgEl("line", { x1: pad.l, x2: W - pad.r, y1: y(v), y2: y(v), class: "grid" }));
      svg.append(svgEl("text", { x: pad.l - 6, y: y(v) + 3, class: "axis", "text-anchor": "end" }, fmt(v)));
    }
    const n = Math.max(bars.length, 1);
    const slot = (W - pad.l - pad.r) / n;
    const bw = Math.max(4, Math.min(34, slot * 0.62));
    bars.forEach((b, i) => {
      const cx = pad.l + slot * i + slot / 2;
      const h = y(0) - y(b.value);
      svg.append(svgEl("rect", { x: cx - bw / 2, y: y(b.value), width: bw, height: Math.max(h, 0.5), rx: 3, fill: b.color || this.color, opacity: b.dim ? 0.55 : 1 }));
      if (b.value > 0) svg.append(svgEl("text", { x: cx, y: y(b.value) - 3, class: "value", "text-anchor": "middle" }, fmt(b.value)));
      if (n <= 12 || i % 2 === 0) svg.append(svgEl("text", { x: cx, y: H - 5, class: "axis", "text-anchor": "middle" }, b.label));
    });
  }
}

/** A funnel: [{label, value}] as horizontal bars with step conversion rates. */
export class Funnel {
  constructor(host, { colors = ["#6b7cff", "#8a6bff", "#c05bff", "#ff4d8d", "#ff7a3d"] } = {}) {
    this.host = host;
    this.colors = colors;
    this.svg = svgEl("svg", { class: "chart funnel", role: "img" });
    host.append(this.svg);
  }

  draw(steps) {
    const W = Math.max(this.host.clientWidth || 320, 200);
    const row = 28;
    const H = steps.length * row + 6;
    const labelW = 92;
    const svg = this.svg;
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("width", W);
    svg.setAttribute("height", H);
    svg.replaceChildren();
    const max = Math.max(1, ...steps.map((s) => s.value));
    const room = W - labelW - 90;
    steps.forEach((s, i) => {
      const yTop = i * row + 3;
      const w = Math.max(2, (s.value / max) * room);
      svg.append(svgEl("text", { x: labelW - 8, y: yTop + 16, class: "label", "text-anchor": "end" }, s.label));
      svg.append(svgEl("rect", { x: labelW, y: yTop, width: w, height: row - 8, rx: 4, fill: this.colors[i % this.colors.length] }));
      const prev = i ? steps[i - 1].value : null;
      const rate = prev ? ` · ${Math.round((100 * s.value) / prev)}%` : "";
      svg.append(svgEl("text", { x: labelW + w + 6, y: yTop + 15, class: "value" }, `${fmt(s.value)}${i ? rate : ""}`));
    });
  }
}

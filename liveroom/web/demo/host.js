// The host console: room controls over the WebSocket (host token), live numbers from the stats
// endpoint (GET /api/rooms/{room}/stats, the host token as Bearer) and from live events.

import { LiveRoom } from "../client/liveroom.js";
import { BarChart, Funnel, LineChart } from "./charts.js";
import { demoToken, el, toast } from "./demo.js";
import { mountHostPanels } from "./host-panels.js";

const ROOM = new URLSearchParams(location.search).get("room") || "demo";
const POLL_MS = 2000;
const WINDOW_MS = 5 * 60_000;
const $ = (id) => document.getElementById(id);

let hostToken = null;
const live = new LiveRoom({
  room: ROOM,
  token: async ({ refresh }) => {
    hostToken = (await demoToken("host", { refresh })).token;
    return hostToken;
  },
});

/** Call the HTTP API as the host. Resolves with the JSON body; rejects with {code, message}. */
export async function api(method, path, body) {
  if (!hostToken) hostToken = (await demoToken("host")).token;
  const res = await fetch(`/api/rooms/${encodeURIComponent(ROOM)}${path}`, {
    method,
    headers: { authorization: `Bearer ${hostToken}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(data.error?.message || `HTTP ${res.status}`), data.error || {});
  return data;
}

// ------------------------------------------------------------------ numbers over time

const series = {
  online: [],
  peak: [],
  likes: [],
  clicks: [],
  comments: [], // [t, cumulative total] from the stats endpoint
};
const latest = { online: 0, peak: 0, likes: 0, comments: 0, shed: 0, unique: 0, counters: {} };

function push(list, value, t = Date.now()) {
  const last = list[list.length - 1];
  if (last && last[1] === value && t - last[0] < 5000) return;
  list.push([t, value]);
  const cutoff = t - WINDOW_MS - 120_000;
  while (list.length > 2 && list[1][0] < cutoff) list.shift();
}

function setText(id, value) {
  const node = $(id);
  if (node && node.textContent !== String(value)) node.textContent = String(value);
}

function onlineNumbers(online, peak, likes) {
  latest.online = online;
  latest.peak = Math.max(latest.peak, peak);
  latest.likes = Math.max(latest.likes, likes);
  push(series.online, online);
  push(series.peak, latest.peak);
  push(series.likes, latest.likes);
  setText("kpi-online", online);
  setText("kpi-peak", latest.peak);
  setText("kpi-likes", latest.likes);
  setText("kpi-likes-rate", perMinute(series.likes));
  $("chart-online").dataset.last = String(online);
  $("chart-likes").dataset.last = String(latest.likes);
}

/** Growth of a cumulative series over the last minute (or since the first sample). */
function perMinute(list, now = Date.now()) {
  if (list.length < 2) return 0;
  const last = list[list.length - 1][1];
  let base = list[0];
  for (const p of list) {
    if (p[0] <= now - 60_000) base = p;
    else break;
  }
  return Math.max(0, last - base[1]);
}

/** Comments per clock minute over the last 10 minutes, from the cumulative counter. */
function commentBars(now = Date.now()) {
  const list = series.comments;
  const bars = [];
  const minute = 60_000;
  const current = Math.floor(now / minute) * minute;
  const at = (t) => {
    let v = null;
    for (const [pt, pv] of list) {
      if (pt <= t) v = pv;
      else break;
    }
    return v;
  };
  for (let i = 9; i >= 0; i -= 1) {
    const start = current - i * minute;
    const end = Math.min(start + minute, now);
    const a = at(start) ?? (list.length && list[0][0] < end ? list[0][1] : null);
    const b = at(end);
    const d = new Date(start);
    bars.push({
      label: `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`,
      value: a === null || b === null ? 0 : Math.max(0, b - a),
      dim: i === 0,
    });
  }
  return bars;
}

export const numbers = { series, latest, push, setText };

async function poll() {
  try {
    const s = await api("GET", "/stats");
    latest.comments = s.comments;
    latest.shed = s.shed;
    latest.unique = s.unique_viewers;
    latest.counters = s.counters || {};
    push(series.comments, s.comments);
    onlineNumbers(s.online, s.peak, s.likes);
    setText("kpi-comments", s.comments);
    setText("kpi-cpm", perMinute(series.comments));
    setText("kpi-shed", s.shed);
    setText("kpi-unique", s.unique_viewers);
    $("chart-comments").dataset.total = String(s.comments);
    for (const hook of pollHooks) hook(s);
    redraw();
  } catch (err) {
    if (err.code === "unauthorized") hostToken = (await demoToken("host", { refresh: true }).catch(() => ({}))).token || null;
  }
}
const pollHooks = [];

// ------------------------------------------------------------------ charts

const charts = {
  online: new LineChart($("chart-online"), { windowMs: WINDOW_MS }),
  comments: new BarChart($("chart-comments"), { color: "#35c6d0" }),
  likes: new LineChart($("chart-likes"), { windowMs: WINDOW_MS }),
  clicks: new LineChart($("chart-clicks"), { windowMs: WINDOW_MS }),
  funnel: new Funnel($("chart-funnel")),
  stock: new LineChart($("chart-stock"), { windowMs: WINDOW_MS }),
};
export const drawHooks = [];

let drawQueued = false;
/** Redraw at the next animation frame (many updates in one frame draw once). */
function redraw() {
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(() => {
    drawQueued = false;
    draw();
  });
}
export { redraw };

function draw() {
  const now = Date.now();
  charts.online.draw(
    [
      { name: "peak", color: "#ffb547", points: series.peak, dashed: true, step: true },
      { name: "online", color: "#6b7cff", points: series.online, area: true, step: true },
    ],
    now,
  );
  charts.comments.draw(commentBars(now));
  charts.likes.draw([{ name: "likes", color: "#ff4d8d", points: series.likes, area: true }], now);
  for (const hook of drawHooks) hook(charts, now);
}

// ------------------------------------------------------------------ the connection

live.on("status", ({ status }) => {
  const pill = $("status");
  pill.textContent = status === "open" ? "live" : status;
  pill.className = `pill ${status === "open" ? "live" : status === "closed" ? "down" : ""}`;
});

live.on("snapshot", (snap) => {
  showRoom(snap.room || {});
  // A snapshot taken before this node's first pulse says 0 online: not worth a dip in the chart.
  if (snap.online > 0 || series.online.length) onlineNumbers(snap.online, snap.peak, snap.likes);
  $("comments").replaceChildren();
  for (const c of snap.comments || []) addComment(c);
});
live.on("room", (ev) => showRoom(ev.room || {}));
live.on("stats", (s) => {
  onlineNumbers(s.online, s.peak, s.likes);
  redraw();
});
live.on("comment", (c) => addComment(c));
live.on("system", (s) => addLine(s.ts, el("span", { class: "sys", text: "📢 system" }), s.text));

function showRoom(room) {
  setText("room-id", ROOM);
  setText("room-title", room.title && room.title !== ROOM ? `· ${room.title}` : "");
}

function addComment(c) {
  if (!c?.user) return;
  const who = el("button", {
    class: "who",
    type: "button",
    title: `mute ${c.user.id}`,
    text: c.user.name || c.user.id,
    onclick: () => {
      $("mute-user").value = c.user.id;
      $("mute-user").focus();
    },
  });
  addLine(c.ts, who, c.text);
}

function addLine(ts, who, text) {
  const list = $("comments");
  const t = new Date((ts || Date.now() / 1000) * 1000);
  const stamp = `${String(t.getHours()).padStart(2, "0")}:${String(t.getMinutes()).padStart(2, "0")}:${String(t.getSeconds()).padStart(2, "0")}`;
  const stick = list.scrollHeight - list.scrollTop - list.clientHeight < 30;
  list.append(el("li", {}, [el("span", { class: "t", text: stamp }), who, el("span", { class: "text", text })]));
  while (list.childElementCount > 200) list.firstElementChild.remove();
  if (stick) list.scrollTop = list.scrollHeight;
}

// ------------------------------------------------------------------ controls

$("system-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("system-text");
  try {
    await live.send("system", { text: input.value });
    input.value = "";
    toast("System message sent", "ok");
  } catch (err) {
    toast(err.message, "bad");
  }
});

$("mute-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const user = $("mute-user").value.trim();
  const seconds = Number($("mute-minutes").value) * 60;
  try {
    await live.send("mute", { user, seconds });
    $("mute-user").value = "";
    toast(`Muted ${user}`, "ok");
    loadMutes();
  } catch (err) {
    toast(err.message, "bad");
  }
});

async function loadMutes() {
  try {
    const { muted } = await api("GET", "/mutes");
    const entries = Array.isArray(muted) ? muted : Object.entries(muted || {}).map(([user, until]) => ({ user, until }));
    $("mutes").replaceChildren(
      ...entries.map((m) => {
        const user = typeof m === "string" ? m : m.user;
        const until = typeof m === "object" && m.until ? new Date(m.until * 1000).toLocaleTimeString() : "";
        return el("li", {}, [
          el("span", { text: `${user}${until ? ` · until ${until}` : ""}` }),
          el("button", {
            class: "btn ghost small",
            type: "button",
            text: "Unmute",
            onclick: async () => {
              await live.send("unmute", { user }).catch((err) => toast(err.message, "bad"));
              loadMutes();
            },
          }),
        ]);
      }),
    );
  } catch {
    // the list is a convenience; muting works without it
  }
}

// ------------------------------------------------------------------ start

mountHostPanels({ live, api, numbers, charts, drawHooks, pollHooks, redraw, room: ROOM });
window.liveroom = live;
live.connect();
poll();
loadMutes();
setInterval(poll, POLL_MS);
setInterval(draw, 1000);
draw();
window.addEventListener("resize", draw);

// The viewer page: comments over the video, likes with floating hearts, online count, and the
// panels of the room's features (product cards, lucky bag, flash sale, red packets).
//
// Every piece of user text reaches the page through textContent (see demo.js ``el``), never as
// HTML.

import { LiveRoom } from "../client/liveroom.js";
import { demoToken, el, toast } from "./demo.js";
import { mountPanels } from "./panels.js";

const ROOM = new URLSearchParams(location.search).get("room") || "demo";
const FEED_MAX = 80;

const $ = (id) => document.getElementById(id);
const feed = $("feed");

/** Words shown for comment errors, by server code. */
const COMMENT_ERRORS = {
  muted: "You are muted in this room for now.",
  rate_limited: "You are commenting too fast — slow down a little.",
  too_long: "That comment is too long.",
  empty: "Type something first.",
  duplicate: "You just said that.",
  read_only: "Sign in to comment.",
  unavailable: "The room is busy; try again in a moment.",
  disconnected: "Connection lost — your comment may not have been sent.",
  timeout: "No answer from the server; try again.",
};

const me = { id: null, name: null, role: "viewer" };
let likesShown = 0;
let tokenName = null;
let tokenValue = null;

const live = new LiveRoom({
  room: ROOM,
  // where this viewer came from (?src=share on a shared link), for the host's analytics
  source: new URLSearchParams(location.search).get("src"),
  token: async ({ refresh }) => {
    const t = await demoToken("viewer", { refresh });
    tokenName = t.name;
    tokenValue = t.token;
    return t.token;
  },
});

// ------------------------------------------------------------------ connection status

live.on("status", ({ status, attempt }) => {
  document.body.dataset.live = status; // for tests and embedders: the connection's state now
  const box = $("status");
  box.classList.toggle("bad", status === "closed");
  if (status === "open") {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  box.textContent =
    status === "closed" ? "Disconnected" : status === "connecting" ? "Connecting…" : `Reconnecting${attempt > 1 ? ` (${attempt})` : ""}…`;
});

live.on("welcome", (w) => {
  me.id = w.user.id;
  me.name = w.user.name;
  me.role = w.role;
  $("me-name").textContent = `${w.user.name} (${w.role})`;
});

live.on("resumed", ({ missed }) => {
  if (missed) note(`Reconnected — caught up on ${missed} event${missed === 1 ? "" : "s"}.`);
  else note("Reconnected.");
});

live.on("snapshot", (snap) => {
  showRoom(snap.room || {});
  setOnline(snap.online);
  likesShown = snap.likes || 0;
  showLikes();
  feed.replaceChildren();
  for (const c of snap.comments || []) addComment(c, { quiet: true });
  if (snap.reset) note("Reconnected — the room was reloaded.");
  else note(`Welcome to the room${tokenName ? `, ${tokenName}` : ""}! Be kind in the comments.`);
  feed.scrollTop = feed.scrollHeight;
});

live.on("room", (ev) => showRoom(ev.room || {}));

function showRoom(room) {
  const title = room.title || room.host_name || ROOM;
  $("room-title").textContent = title;
  $("host-avatar").textContent = (room.host_name || title || "播").slice(0, 1).toUpperCase();
  document.title = `${title} · live`;
}

// ------------------------------------------------------------------ comments

live.on("comment", (c) => addComment(c));
live.on("system", (s) => addLine("system", [el("span", { class: "tag", text: "Host" }), s.text]));
live.on("error", (err) => toast(err.message || err.code || "error", "bad"));

function addComment(c, { quiet = false } = {}) {
  if (!c || !c.user) return;
  const mine = c.user.id === me.id;
  const cls = ["msg", mine ? "mine" : "", c.user.id?.startsWith("host-") ? "host" : ""].filter(Boolean).join(" ");
  const parts = [el("span", { class: "who", text: c.user.name || c.user.id }), el("span", { class: "text", text: c.text })];
  if (c.hidden) parts.push(el("span", { class: "flag", text: "(only you can see this)" }));
  addLine(cls, parts, { quiet });
}

/** Room notices from features (purchases, draws), highlighted. */
function notice(text) {
  addLine("msg notice", [text]);
}

/** Notices the page itself writes (reconnects, results). */
function note(text) {
  addLine("msg note", [text]);
}

function addLine(cls, children, { quiet = false } = {}) {
  const stick = feed.scrollHeight - feed.scrollTop - feed.clientHeight < 40;
  const li = el("li", { class: cls.startsWith("msg") ? cls : `msg ${cls}` }, children);
  feed.append(li);
  while (feed.childElementCount > FEED_MAX) feed.firstElementChild.remove();
  if (stick || quiet) feed.scrollTop = feed.scrollHeight;
  return li;
}

$("say").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("comment-input");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  try {
    const answer = await live.send("comment", { text });
    if (answer.shed) toast("The room is very busy: others may not see every comment.");
    if (answer.masked) toast("Some words were masked.");
  } catch (err) {
    toast(COMMENT_ERRORS[err.code] || err.message, "bad");
    if (err.code !== "muted" && err.code !== "duplicate") input.value ||= text;
  }
});

// ------------------------------------------------------------------ sharing

$("share").addEventListener("click", async () => {
  const link = new URL(location.href);
  link.searchParams.set("src", "share");
  live.send("share").catch(() => {});
  try {
    if (navigator.share) await navigator.share({ title: document.title, url: link.href });
    else await navigator.clipboard.writeText(link.href);
    toast("Link ready to share", "ok");
  } catch {
    // the viewer closed the share sheet, or the clipboard is not available: the share counted
  }
});

// ------------------------------------------------------------------ likes and online

let likeBatch = 0;
let likeTimer = null;

$("like").addEventListener("click", () => {
  likesShown += 1;
  showLikes();
  floatHeart();
  likeBatch += 1;
  // Taps are sent in batches: one command per 400 ms however fast the thumb.
  likeTimer ??= setTimeout(flushLikes, 400);
});

function flushLikes() {
  likeTimer = null;
  const count = Math.min(likeBatch, 100);
  likeBatch -= count;
  if (count) live.send("like", { count }).catch(() => {});
  if (likeBatch) likeTimer = setTimeout(flushLikes, 400);
}

live.on("stats", (s) => {
  setOnline(s.online);
  const others = s.likes - likesShown;
  if (others > 0) {
    for (let i = 0; i < Math.min(others, 4); i += 1) setTimeout(floatHeart, i * 180);
  }
  likesShown = Math.max(likesShown, s.likes);
  showLikes();
});

function setOnline(n) {
  $("online").textContent = compact(n || 0);
}

function showLikes() {
  $("likes").textContent = compact(likesShown);
  $("likes-top").textContent = compact(likesShown);
}

function compact(n) {
  if (n >= 100000000) return `${(n / 100000000).toFixed(1)}亿`;
  if (n >= 10000) return `${(n / 10000).toFixed(1)}w`;
  return String(n);
}

const HEARTS = ["❤️", "💖", "💗", "🧡", "💛", "💜", "🩷"];
function floatHeart() {
  const box = $("hearts");
  if (box.childElementCount > 24) return;
  const h = el("span", { class: "heart", text: HEARTS[Math.floor(Math.random() * HEARTS.length)] });
  h.style.setProperty("--dx", `${Math.round((Math.random() - 0.5) * 60)}px`);
  h.style.setProperty("--rot", `${Math.round((Math.random() - 0.5) * 40)}deg`);
  h.addEventListener("animationend", () => h.remove());
  box.append(h);
}

// ------------------------------------------------------------------ feature panels

mountPanels({ live, me, note, notice, room: ROOM, token: () => tokenValue });

// Tests and curious developers can reach the client from the console.
window.liveroom = live;
live.connect();

// Demo helpers shared by the viewer page and the host console: demo tokens, safe DOM building and
// display formatting.
//
// A real shop's page gets its token from the shop's own backend; the demo asks the liveroom demo
// endpoint (on only when the server runs with LIVEROOM_DEMO=1) and keeps it per browser tab.

/** A token for the demo room: cached per tab, fetched again when ``refresh`` is set. */
export async function demoToken(role, { refresh = false } = {}) {
  const key = `liveroom-demo-${role}`;
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(key) || "null");
  } catch {
    saved = null;
  }
  if (saved && !refresh) return saved;
  const params = new URLSearchParams({ role });
  if (saved?.name) params.set("name", saved.name);
  const res = await fetch(`/demo/token?${params}`);
  if (!res.ok) throw new Error(`demo token: HTTP ${res.status}`);
  const body = await res.json();
  sessionStorage.setItem(key, JSON.stringify(body));
  return body;
}

/**
 * Build an element. Text children become text nodes, never HTML: everything a user typed goes
 * through here or through ``textContent``.
 */
export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of [].concat(children)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Short-lived message at the top of the page. */
export function toast(text, kind = "info", ms = 2600) {
  let box = document.getElementById("toasts");
  if (!box) {
    box = el("div", { id: "toasts", class: "toasts", "aria-live": "polite" });
    document.body.append(box);
  }
  const item = el("div", { class: `toast toast-${kind}`, "data-testid": "toast", text });
  box.append(item);
  setTimeout(() => item.classList.add("gone"), ms);
  setTimeout(() => item.remove(), ms + 400);
  return item;
}

/** Seconds as m:ss. */
export function clock(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** Server time, in seconds, estimated from event timestamps (``ts``). */
export const serverClock = {
  skew: 0,
  observe(ts) {
    if (typeof ts === "number") this.skew = ts - Date.now() / 1000;
  },
  now() {
    return Date.now() / 1000 + this.skew;
  },
};

/** Format an amount in fen (分) as yuan: 12990 -> "129.90". */
export function yuan(fen) {
  const n = Number(fen) || 0;
  return (n / 100).toFixed(2);
}

// The console's live diagnosis: the room's analytics report (GET /api/rooms/{room}/report, the
// host token as Bearer), redrawn every few seconds, and the ad spend the host enters.

import { demoToken, toast } from "./demo.js";
import { renderReport } from "./report-view.js";

const ROOM = new URLSearchParams(location.search).get("room") || "demo";
const POLL_MS = 3000;
const $ = (id) => document.getElementById(id);

async function call(method, path, body) {
  const { token } = await demoToken("host");
  const res = await fetch(`/api/rooms/${encodeURIComponent(ROOM)}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(data.error?.message || `HTTP ${res.status}`), data.error || {}, { status: res.status });
  return data;
}

async function poll() {
  try {
    const report = await call("GET", "/report");
    $("analytics-status").hidden = true;
    renderReport($("analytics-panels"), report);
  } catch (err) {
    if (err.status !== 404) $("analytics-status").textContent = `Analytics: ${err.message}`;
  }
}

$("report-link").href = `report.html?room=${encodeURIComponent(ROOM)}`;
$("spend-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("spend-yuan").value.trim();
  const cents = Math.round(Number(text) * 100);
  if (!/^\d+(\.\d{1,2})?$/.test(text)) {
    toast("Ad spend is an amount in yuan, like 50 or 49.90", "bad");
    return;
  }
  try {
    await call("POST", "/ad-spend", { cents });
    $("spend-yuan").value = "";
    toast(`Ad spend ¥${text} added`, "ok");
    poll();
  } catch (err) {
    toast(err.message, "bad");
  }
});
setInterval(poll, POLL_MS);
poll();

// The printable report page: /demo/report.html?room=<id>[&token=<host token>]. Without a token it
// asks the demo endpoint for a host token (demo room only); a shop links here with its own.

import { demoToken } from "./demo.js";
import { renderReport } from "./report-view.js";

const params = new URLSearchParams(location.search);
const ROOM = params.get("room") || "demo";
const $ = (id) => document.getElementById(id);

async function load() {
  const token = params.get("token") || (await demoToken("host")).token;
  const path = `/api/rooms/${encodeURIComponent(ROOM)}/report`;
  const res = await fetch(path, { headers: { authorization: `Bearer ${token}` } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    $("report-status").textContent = body.error?.message || `HTTP ${res.status}`;
    return;
  }
  $("room-id").textContent = ROOM;
  $("report-when").textContent = `${body.ended ? "ended" : "live"} · generated ${new Date(body.generated * 1000).toLocaleString()}`;
  $("report-status").hidden = true;
  renderReport($("report"), body);
  // the CSV needs the same bearer: fetched, then offered as a download
  $("csv").addEventListener("click", async (event) => {
    event.preventDefault();
    const csv = await fetch(`${path}.csv`, { headers: { authorization: `Bearer ${token}` } });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await csv.blob());
    link.download = `${ROOM}-report.csv`;
    link.click();
  });
}

$("print").addEventListener("click", () => window.print());
load();

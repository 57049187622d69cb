// Red packets (红包): the badge while one is open, grabbing, and a clear answer for each code.

import { el, toast, yuan } from "./demo.js";

const GRAB_ERRORS = {
  already_grabbed: (e) => `You already grabbed this one: ¥${yuan(e.details?.amount ?? 0)}.`,
  all_grabbed: () => "Too slow — every packet has been grabbed.",
  not_started: () => "Not open yet — it opens in a moment.",
  keyword_required: (e) => `Comment “${e.details?.keyword ?? "the keyword"}” first, then grab.`,
  not_found: () => "This red packet is gone.",
  ended: () => "The host closed this red packet.",
  read_only: () => "Sign in to grab red packets.",
};

export function mountPackets(ctx) {
  const { live } = ctx;
  const badge = document.getElementById("packet-badge");
  const body = document.getElementById("packet-body");
  const packets = new Map(); // id -> public packet
  const mine = new Map(); // id -> {amount} | {error}
  let shown = null;

  function put(p) {
    packets.set(p.id, p);
    if (p.state === "finished" && !mine.has(p.id)) setTimeout(() => drop(p.id), 20_000);
    render();
  }
  function drop(id) {
    if (packets.get(id)?.state === "finished") packets.delete(id);
    render();
  }

  live.on("snapshot", (snap) => {
    if (!Array.isArray(snap.packets)) return;
    packets.clear();
    for (const p of snap.packets) put(p);
    render();
  });
  live.on("packet", (ev) => {
    if (!ev.packet) return;
    const fresh = !packets.has(ev.packet.id);
    put(ev.packet);
    if (fresh && ev.packet.state !== "finished") ctx.notice(`🧧 ${ev.packet.by?.name || "The host"} sent a red packet: ${ev.packet.title}${ev.packet.keyword ? ` — comment “${ev.packet.keyword}” to unlock` : ""}`);
    if (ev.refund) {
      ctx.note(`🧧 ${ev.packet.title} was closed by the host.`);
    } else if (ev.summary && mine.has(ev.packet.id)) {
      const best = ev.summary.best;
      ctx.note(`🧧 All grabbed in ${ev.summary.took_s}s. Luckiest: ${best.user.name} ¥${yuan(best.amount)}`);
    }
  });
  live.on("packet_grabbed", (ev) => {
    mine.set(ev.packet, { amount: ev.amount });
    render();
  });
  live.on("packet_unlocked", (ev) => {
    const p = packets.get(ev.packet);
    if (p) toast(`Unlocked: grab “${p.title}” now!`, "ok");
  });

  badge.addEventListener("click", () => {
    shown = current()?.id ?? null;
    render();
    ctx.sheets.open("packet-sheet");
  });

  function current() {
    const open = [...packets.values()].filter((p) => p.state !== "finished" && !mine.has(p.id));
    return open[0] || [...packets.values()].find((p) => p.id === shown) || null;
  }

  async function grab(p) {
    try {
      const answer = await live.send("packet_grab", { packet: p.id });
      mine.set(p.id, { amount: answer.amount });
    } catch (err) {
      const say = GRAB_ERRORS[err.code];
      const text = say ? say(err) : err.message;
      if (err.code === "already_grabbed") mine.set(p.id, { amount: err.details?.amount ?? 0 });
      else mine.set(p.id, { error: text, code: err.code });
      if (err.code === "keyword_required" || err.code === "not_started") {
        setTimeout(() => {
          if (mine.get(p.id)?.code === err.code) mine.delete(p.id);
          render();
        }, 2500);
      }
    }
    render();
  }

  function render() {
    const waiting = [...packets.values()].some((p) => p.state !== "finished" && !mine.has(p.id));
    badge.hidden = !waiting;
    const p = packets.get(shown) || current();
    if (!p) {
      body.replaceChildren(el("p", { text: "No red packet right now." }));
      return;
    }
    shown = p.id;
    const got = mine.get(p.id);
    const parts = [el("h2", { text: `🧧 ${p.title}` }), el("div", { text: `from ${p.by?.name || "the host"} · ${p.count} packets · ¥${yuan(p.total)} in all` })];
    if (got?.amount !== undefined) {
      parts.push(el("div", { class: "packet-amount", "data-testid": "packet-result", text: `¥${yuan(got.amount)}` }), el("div", { text: "is yours!" }));
    } else if (got?.error) {
      parts.push(el("p", { "data-testid": "packet-result", text: got.error }));
    } else if (p.state === "finished") {
      parts.push(el("p", { "data-testid": "packet-result", text: "Every packet has been grabbed." }));
    } else {
      parts.push(
        el("button", { class: "packet-open", type: "button", "data-testid": "packet-grab", text: "開", onclick: () => grab(p) }),
        el("div", { text: p.keyword ? `Comment “${p.keyword}” first, then tap` : `${p.left} of ${p.count} left` }),
      );
    }
    body.replaceChildren(el("div", { class: "packet-card" }, parts));
  }
}

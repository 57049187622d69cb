// The host console's group-buy panel (拼团): create a deal on a catalogue product, open and
// close it, and watch each deal's stock, its groups (open, formed, failed) and its audit.
// Deal figures for the host (held, reserved, paid, formed, failed) and the groups of every
// status come from the HTTP API, polled with the console's other numbers; ``deal`` and
// ``groups`` events move the stock in between.

import { clock, el, serverClock, toast, yuan } from "./demo.js";
import { CATALOG } from "./catalog.js";

export function mountGroupPanel(ctx) {
  const { live, api } = ctx;
  const deals = new Map(); // id -> deal (with the host's figures once polled)
  const groups = new Map(); // deal id -> [group]
  const audits = new Map(); // deal id -> audit
  const options = CATALOG.map((p) => el("option", { value: p.sku, text: p.title }));
  const form = el("form", { class: "stack", id: "deal-form" }, [
    el("div", { class: "grid2" }, [
      el("label", { class: "wide" }, ["Product", el("select", { id: "deal-sku", "data-testid": "deal-sku" }, options)]),
      el("label", {}, ["Group price ¥", el("input", { id: "deal-price", type: "number", min: "0", step: "0.01", value: ((CATALOG[0].price * 0.7) / 100).toFixed(2) })]),
      el("label", {}, ["People per group", el("input", { id: "deal-size", "data-testid": "deal-size", type: "number", min: "2", max: "50", value: "2" })]),
      el("label", {}, ["Stock", el("input", { id: "deal-stock", "data-testid": "deal-stock", type: "number", min: "0", value: "20" })]),
      el("label", {}, ["Fill within (s)", el("input", { id: "deal-fill", "data-testid": "deal-fill", type: "number", min: "1", value: "300" })]),
    ]),
    el("button", { class: "btn hot", type: "submit", "data-testid": "deal-create", text: "Start group deal" }),
  ]);
  const list = el("ul", { class: "items", "data-testid": "deals" });
  const panel = el("section", { class: "panel", "data-panel": "deals", hidden: true }, [el("h2", { text: "👥 Group buys" }), form, list]);
  ctx.root.append(panel);

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const product = CATALOG.find((p) => p.sku === form.querySelector("#deal-sku").value);
    try {
      const { deal } = await api("POST", "/deals", {
        sku: product.sku,
        title: product.title,
        price: Math.round(Number(form.querySelector("#deal-price").value) * 100),
        size: Number(form.querySelector("#deal-size").value),
        stock: Number(form.querySelector("#deal-stock").value),
        fill_s: Number(form.querySelector("#deal-fill").value),
        open: true,
      });
      put(deal);
      toast(`Group deal ${deal.id} is live`, "ok");
    } catch (err) {
      toast(err.message, "bad");
    }
  });

  function put(deal) {
    const old = deals.get(deal.id);
    if (old && old.version > deal.version) return;
    deals.set(deal.id, { ...old, ...deal });
    render();
  }

  live.on("snapshot", (snap) => {
    if (!Array.isArray(snap.deals)) return; // the server has no group buys
    panel.hidden = false;
    for (const deal of snap.deals) put(deal);
    refresh();
  });
  live.on("deal", (ev) => put(ev.deal));
  live.on("groups", (ev) => put(ev.deal));
  live.on("group_formed", () => refresh());
  live.on("group_failed", () => refresh());

  async function refresh() {
    if (panel.hidden) return;
    try {
      for (const deal of (await api("GET", "/deals")).deals) put(deal);
      for (const deal of deals.values()) {
        const id = encodeURIComponent(deal.id);
        groups.set(deal.id, (await api("GET", `/deals/${id}/groups?status=all`)).groups);
        audits.set(deal.id, await api("GET", `/deals/${id}/audit`));
      }
      render();
    } catch {
      // next poll
    }
  }
  ctx.pollHooks.push(refresh);

  async function close(deal) {
    try {
      put((await api("POST", `/deals/${encodeURIComponent(deal.id)}/close`)).deal);
      toast("Deal closed: open groups failed", "ok");
      refresh();
    } catch (err) {
      toast(err.message, "bad");
    }
  }

  function render() {
    const sorted = [...deals.values()].sort((a, b) => (a.status === "closed") - (b.status === "closed"));
    list.replaceChildren(
      ...sorted.map((d) => {
        const audit = audits.get(d.id);
        const rows = (groups.get(d.id) || []).slice(0, 8).map((g) =>
          el("li", { class: `deal-group ${g.status}`, "data-testid": "deal-group" }, [
            el("span", { text: g.id }),
            el("span", { text: ` · ${g.members.map((m) => m.name).join(", ")}` }),
            el("span", { class: "item-meta", text: g.status === "open" ? ` · needs ${g.needs} · ${clock(g.deadline - serverClock.now())}` : ` · ${g.status}${g.reason ? ` (${g.reason})` : ""}` }),
          ]),
        );
        return el("li", { class: "item", "data-deal": d.id }, [
          el("div", { class: "item-head" }, [
            el("div", {}, [
              el("div", { class: "item-title", text: d.title }),
              el("div", { class: "item-meta", text: `${d.id} · ${d.size} per group · ¥${yuan(d.price)} · fill in ${d.fill_s}s` }),
            ]),
            el("span", { class: `state ${d.status === "open" ? "on" : ""}`, text: d.status }),
          ]),
          el("div", { class: "item-meta", "data-testid": "deal-numbers", text: `stock ${d.stock} / ${d.total} · in groups ${d.held ?? "–"} · reserved ${d.reserved ?? "–"} · paid ${d.paid ?? "–"} · formed ${d.formed ?? "–"} · failed ${d.failed ?? "–"}` }),
          audit ? el("div", { class: "item-meta", "data-testid": "deal-audit", text: audit.ok ? "audit ✓ balanced" : "audit ✗ — see /audit" }) : null,
          rows.length ? el("ul", { class: "deal-groups" }, rows) : null,
          d.status === "closed"
            ? null
            : el("div", { class: "item-actions" }, [el("button", { class: "btn small danger", type: "button", "data-testid": "deal-close", text: "Close", onclick: () => close(d) })]),
        ]);
      }),
    );
  }
}

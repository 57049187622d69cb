// Host console panels for the room features: product cards, flash sales, lucky bags, red
// packets. Each one appears only when the server has the feature (it shows up in the snapshot).

import { yuan } from "./liveroom.js";
import { el, toast } from "./demo.js";
import { CATALOG } from "./catalog.js";

export function mountHostPanels(ctx) {
  const root = document.getElementById("feature-panels");
  const state = { cards: [], cardsVersion: -1, sales: new Map() };
  ctx.state = state;
  ctx.root = root;
  mountCardsPanel(ctx);
  return ctx;
}

/** Run a command and toast its failure; resolves with the reply or null. */
export async function act(ctx, type, fields, okText) {
  try {
    const answer = await ctx.live.send(type, fields);
    if (okText) toast(okText, "ok");
    return answer;
  } catch (err) {
    toast(err.message || err.code, "bad");
    return null;
  }
}

// ------------------------------------------------------------------ product cards

function mountCardsPanel(ctx) {
  const { live, state } = ctx;
  const list = el("ul", { class: "items", "data-testid": "catalog" });
  const panel = el("section", { class: "panel", "data-panel": "cards", hidden: true }, [
    el("h2", {}, ["📌 Product cards", el("span", { class: "tag", id: "cards-count", text: "0 / 3 pinned" })]),
    list,
  ]);
  ctx.root.append(panel);

  live.on("snapshot", (snap) => {
    if (!Array.isArray(snap.cards)) return; // the server has no cards feature
    panel.hidden = false;
    state.cards = snap.cards;
    state.cardsVersion = snap.cards_version ?? 0;
    render();
  });
  live.on("cards", (ev) => {
    if (ev.version <= state.cardsVersion) return;
    state.cards = ev.cards || [];
    state.cardsVersion = ev.version;
    render();
  });
  ctx.renderCards = render;

  const { series, latest, push, setText } = ctx.numbers;
  ctx.pollHooks.push(() => {
    if (panel.hidden) return;
    const clicks = latest.counters.card_clicks || 0;
    push(series.clicks, clicks);
    setText("kpi-clicks", clicks);
    setText("kpi-shown", latest.counters.card_shown || 0);
    document.getElementById("chart-clicks").dataset.last = String(clicks);
  });
  ctx.drawHooks.push((charts, now) => {
    if (panel.hidden) return;
    document.getElementById("empty-clicks").hidden = true;
    charts.clicks.draw([{ name: "clicks", color: "#35d07f", points: series.clicks, area: true, step: true }], now);
  });

  function render() {
    const pinned = new Map(state.cards.map((c) => [c.sku, c]));
    document.getElementById("cards-count").textContent = `${pinned.size} / 3 pinned`;
    list.replaceChildren(
      ...CATALOG.map((p) => {
        const on = pinned.has(p.sku);
        const sale = [...state.sales.values()].find((s) => s.sku === p.sku && s.state !== "ended");
        return el("li", { class: "item", "data-sku": p.sku }, [
          el("div", { class: "item-head" }, [
            el("div", {}, [
              el("div", { class: "item-title", text: p.title }),
              el("div", { class: "item-meta", text: `¥${yuan(p.price)} · ${p.sku}${sale ? ` · sale ${sale.id}` : ""}` }),
            ]),
            on ? el("span", { class: "state on", text: "pinned" }) : null,
          ]),
          el("div", { class: "item-actions" }, [
            on
              ? el("button", {
                  class: "btn ghost small",
                  type: "button",
                  "data-testid": `unpin-${p.sku}`,
                  text: "Unpin",
                  onclick: () => act(ctx, "card_unpin", { sku: p.sku }, `Unpinned ${p.title}`),
                })
              : el("button", {
                  class: "btn small",
                  type: "button",
                  "data-testid": `pin-${p.sku}`,
                  text: "Pin",
                  onclick: () => {
                    const card = { sku: p.sku, title: p.title, price: p.price, image: p.image, reminder: p.reminder };
                    if (sale) card.sale = sale.id;
                    act(ctx, "card_pin", card, `Pinned ${p.title}`);
                  },
                }),
          ]),
        ]);
      }),
    );
  }
}

// Pinned product cards (讲解卡): the board from the snapshot and ``cards`` events (the highest
// version wins), live stock from the linked flash sale, clicks and views counted for the funnel.

import { el, yuan } from "./demo.js";

export function mountCards(ctx) {
  const { live, state } = ctx;
  const box = document.getElementById("cards");
  const viewed = new Set();

  live.on("snapshot", (snap) => {
    if (!Array.isArray(snap.cards)) return;
    state.cards = snap.cards;
    state.cardsVersion = snap.cards_version ?? 0;
    // The server counted these as shown when it sent the snapshot.
    for (const c of snap.cards) viewed.add(c.sku);
    render();
  });

  live.on("cards", (ev) => {
    if (ev.version <= state.cardsVersion) return;
    state.cards = ev.cards || [];
    state.cardsVersion = ev.version;
    render();
    if (ev.change === "pin" || ev.change === "replace") {
      const card = state.cards.find((c) => c.sku === ev.sku);
      if (card) ctx.note(`📌 Now showing: ${card.title}`);
    }
  });

  ctx.openProduct ??= (card) => productSheet(ctx, card);

  // The bag button in the action bar: every product on show, in one list.
  document.getElementById("cart-button").addEventListener("click", () => {
    if (!state.cards.length) {
      ctx.note("No products on show right now — the host pins them during the live.");
      return;
    }
    const body = document.getElementById("sale-body");
    const list = state.cards.map((card, i) => {
      const node = cardNode(card, i);
      node.classList.add("card-wide");
      return node;
    });
    body.replaceChildren(el("h2", { text: "🛍 Products in this live" }), el("div", { class: "cards" }, list));
    ctx.sheets.open("sale-sheet");
  });
  // Stock shown on a card follows its flash sale.
  ctx.salesChanged = render;

  function render() {
    const keep = new Map([...box.children].map((n) => [n.dataset.sku, n]));
    const nodes = state.cards.map((card, i) => {
      const node = cardNode(card, i);
      const old = keep.get(card.sku);
      if (old && old.dataset.sig === node.dataset.sig) return old;
      return node;
    });
    box.replaceChildren(...nodes);
    for (const card of state.cards) {
      if (!viewed.has(card.sku) && live.isOpen) {
        viewed.add(card.sku);
        live.send("card_view", { sku: card.sku }).catch(() => viewed.delete(card.sku));
      }
    }
  }

  /** The flash sale selling this card: the one it names, else an open one for its sku. */
  function saleOf(card) {
    if (card.sale) return state.sales.get(card.sale) || null;
    for (const sale of state.sales.values()) if (sale.sku === card.sku && sale.status !== "closed") return sale;
    return null;
  }

  function cardNode(card, i) {
    const sale = saleOf(card);
    const stock = sale ? sale.stock : card.stock;
    const soldOut = sale ? sale.stock <= 0 || sale.sold_out : card.stock === 0;
    const price = sale?.price ?? card.price;
    const img = el("div", { class: "card-img" }, [
      safeImage(card.image, card.title),
      el("span", { class: "card-rank", text: String(i + 1) }),
    ]);
    const buyLabel = soldOut ? "Sold out" : sale ? saleLabel(sale) : "Buy";
    const node = el(
      "article",
      { class: "card", "data-testid": "card", "data-sku": card.sku, onclick: () => open(card) },
      [
        img,
        el("div", { class: "card-main" }, [
          el("div", { class: "card-title" }, [
            card.reminder ? el("span", { class: "card-reminder", text: card.reminder }) : null,
            card.title,
          ]),
          el("div", { class: "card-row" }, [
            el("div", {}, [
              el("div", { class: "card-price" }, [el("small", { text: "¥" }), yuan(price)]),
              stock !== undefined && stock !== null
                ? el("div", { class: "card-stock", "data-testid": "card-stock", text: `${stock} left` })
                : null,
            ]),
            el("button", { class: "card-buy", type: "button", disabled: soldOut, text: buyLabel }),
          ]),
        ]),
      ],
    );
    node.dataset.sig = JSON.stringify([card, sale?.stock, sale?.state, i]);
    return node;
  }

  function open(card) {
    live.send("card_click", { sku: card.sku }).catch(() => {});
    const sale = saleOf(card);
    if (sale && ctx.openSale) ctx.openSale(sale.id, card);
    else ctx.openProduct?.(card);
  }
}

/** The product sheet for a card without a flash sale: details and the shop's checkout. */
export function productSheet(ctx, card) {
  const body = document.getElementById("sale-body");
  body.replaceChildren(
    el("div", { class: "sale-head" }, [
      el("div", { class: "card-img" }, [safeImage(card.image, card.title)]),
      el("div", {}, [
        el("div", { class: "sale-title", text: card.title }),
        el("div", { class: "sale-price" }, ["¥", yuan(card.price)]),
        card.reminder ? el("span", { class: "card-reminder", text: card.reminder }) : null,
      ]),
    ]),
    el("button", {
      class: "primary",
      type: "button",
      text: "Go to checkout",
      onclick: () => {
        ctx.note(`🛒 ${card.title}: checkout opens in the shop's own app.`);
        ctx.sheets.close();
      },
    }),
  );
  ctx.sheets.open("sale-sheet");
}

function saleLabel(sale) {
  if (sale.status === "created") return "Soon";
  if (sale.status === "closed") return "Ended";
  return "Grab";
}

/** An <img> only for http(s) or same-site URLs; anything else gets the title's first letter. */
export function safeImage(url, title) {
  if (typeof url === "string" && /^(https?:\/\/|\/)/.test(url)) {
    return el("img", { src: url, alt: "", loading: "lazy" });
  }
  return el("span", { text: (title || "?").slice(0, 1) });
}

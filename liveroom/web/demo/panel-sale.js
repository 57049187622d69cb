// Flash sales (秒杀): live stock from the snapshot and ``sale``/``sold_out`` events, the buy
// button and a clear answer for every code, purchase notices in the feed, demo payment.

import { LiveRoomError } from "../client/liveroom.js";
import { clock, el, toast, yuan } from "./demo.js";
import { safeImage } from "./panel-cards.js";

/** What the viewer reads for each refusal code of ``buy``. */
const ANSWERS = {
  sold_out: (sale) => ["Sold out", `All ${sale?.total ?? ""} units are gone. Stay tuned — the host may add more.`],
  limit_reached: (sale) => ["Limit reached", `Each viewer may buy ${sale?.limit ?? 1} of this item, and you have.`],
  not_started: () => ["Not started yet", "The sale opens soon. Keep this sheet open and try again then."],
  ended: () => ["Sale ended", "This flash sale is over."],
  invalid_quantity: (sale) => ["Quantity not allowed", `Choose between 1 and ${sale?.limit ?? 1}.`],
  not_found: () => ["Not available", "This sale is no longer in the room."],
  unavailable: () => ["Busy right now", "The shop could not be reached. Your request was not taken; try again."],
  rate_limited: () => ["Too fast", "Wait a moment, then try again."],
  read_only: () => ["Sign in to buy", "Guests can watch but not buy."],
  timeout: () => ["No answer", "No answer from the server. Tap again: a repeat never buys twice."],
  disconnected: () => ["Connection lost", "Tap again once reconnected: a repeat never buys twice."],
};

export function mountSales(ctx) {
  const { live, state } = ctx;
  let openId = null; // the sale in the open sheet
  let attempt = null; // {requestId} of the current buy, reused on retry
  let result = null; // the answer shown in the sheet
  let payTimer = null;
  const orders = new Map(); // order id -> {answer, status: reserved | paying | paid | cancelled}

  function put(sale) {
    const old = state.sales.get(sale.id);
    if (old && old.version > sale.version) return;
    state.sales.set(sale.id, sale);
    ctx.salesChanged?.();
    if (openId === sale.id) render();
  }

  live.on("snapshot", (snap) => {
    if (!Array.isArray(snap.sales)) return;
    state.sales.clear();
    for (const sale of snap.sales) put(sale);
    ctx.salesChanged?.();
  });
  live.on("sale", (ev) => ev.sale && put(ev.sale));
  live.on("sold_out", (ev) => {
    if (!ev.sale) return;
    put(ev.sale);
    ctx.note(`⚡ ${ev.sale.title}: sold out!`);
  });
  live.on("purchases", (ev) => ctx.notice(`🛍 ${ev.text}`));

  ctx.openSale = (saleId, card) => {
    if (openId !== saleId) {
      result = null;
      attempt = null;
    }
    openId = saleId;
    ctx.saleCard = card;
    render();
    ctx.sheets.open("sale-sheet");
  };

  async function buy() {
    const sale = state.sales.get(openId);
    if (!sale) return;
    // One request id per purchase attempt: a retry after a timeout reuses it and so can never
    // buy twice; a new tap after an answer starts a new attempt.
    attempt ??= { requestId: live.newId() };
    result = { kind: "wait", title: "Grabbing…", text: "" };
    render();
    try {
      // the viewer's best coupon for this sale, if any (panel-coupon.js), off the price
      attempt.coupon ??= ctx.couponFor?.(sale);
      const answer = await live.send("buy", { sale: sale.id, quantity: 1, request_id: attempt.requestId, coupon: attempt.coupon });
      result = { kind: "ok", answer };
      orders.set(answer.order, { answer, status: "reserved" });
      attempt = null;
      ctx.note(`✅ You got ${sale.title}. Pay within ${clock(answer.deadline - Date.now() / 1000)}.`);
    } catch (err) {
      const code = err instanceof LiveRoomError ? err.code : "error";
      const [title, text] = (ANSWERS[code] || (() => ["Not bought", err.message]))(sale);
      result = { kind: "bad", code, title, text };
      if (!["timeout", "disconnected", "unavailable"].includes(code)) attempt = null;
    }
    ctx.couponsChanged?.();
    render();
  }

  async function pay(order) {
    const mine = orders.get(order.order);
    mine.status = "paying";
    render();
    try {
      const res = await fetch("/demo/pay", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${ctx.token()}` },
        body: JSON.stringify({ sale: order.sale, order: order.order }),
      });
      const body = await res.json();
      if (!res.ok) throw new Error(body.error?.message || `HTTP ${res.status}`);
      mine.status = "paid";
      toast("Paid — thank you!", "ok");
    } catch (err) {
      mine.status = "reserved";
      toast(`Payment failed: ${err.message}`, "bad");
    }
    render();
  }

  async function cancel(order) {
    try {
      await live.send("cancel_order", { sale: order.sale, order: order.order });
      orders.get(order.order).status = "cancelled";
      toast("Order cancelled; the unit went back to the stock.");
      ctx.couponsChanged?.();
    } catch (err) {
      toast(err.message, "bad");
    }
    render();
  }

  function render() {
    const sale = state.sales.get(openId);
    const body = document.getElementById("sale-body");
    clearInterval(payTimer);
    if (!sale) {
      body.replaceChildren(el("p", { text: "This sale is no longer in the room." }));
      return;
    }
    const card = ctx.saleCard && (ctx.saleCard.sale === sale.id || ctx.saleCard.sku === sale.sku) ? ctx.saleCard : state.cards.find((c) => c.sale === sale.id || c.sku === sale.sku);
    const pct = sale.total ? Math.max(0, Math.min(100, (100 * sale.stock) / sale.total)) : 0;
    const closed = sale.status === "closed";
    const notOpen = sale.status === "created";
    const soldOut = sale.sold_out || sale.stock <= 0;
    // Sold out stays tappable: unpaid orders that expire put units back (还有机会).
    const label = closed ? "Sale ended" : notOpen ? "Starts soon" : soldOut ? "Sold out · try again" : "Grab it now";
    const busy = result?.kind === "wait";
    body.replaceChildren(
      el("div", { class: "sale-head" }, [
        el("div", { class: "card-img" }, [safeImage(card?.image, sale.title)]),
        el("div", {}, [
          el("div", { class: "sale-title", text: sale.title }),
          el("div", { class: "sale-price" }, [
            "¥",
            yuan(sale.price),
            card && card.price > sale.price ? el("s", { text: `¥${yuan(card.price)}` }) : null,
          ]),
          el("div", { class: "stock-text" }, [el("span", { text: `Limit ${sale.limit} per person` })]),
        ]),
      ]),
      el("div", { class: "stockbar", "data-testid": "stockbar" }, [el("div", { style: `width:${pct.toFixed(1)}%` })]),
      el("div", { class: "stock-text" }, [
        el("span", { "data-testid": "sale-stock", text: `${sale.stock} left` }),
        el("span", { text: `of ${sale.total}` }),
      ]),
      el("button", {
        class: `primary${soldOut || closed || notOpen ? " muted" : ""}`,
        type: "button",
        "data-testid": "buy",
        disabled: busy,
        text: busy ? "Grabbing…" : label,
        onclick: buy,
        style: "margin-top:14px",
      }),
      answerNode(sale),
      ordersNode(sale),
    );
  }

  function ordersNode(sale) {
    const mine = [...orders.values()].filter((o) => o.answer.sale === sale.id && o.status !== "cancelled");
    if (!mine.length) return null;
    const timers = [];
    const node = el(
      "ul",
      { class: "orders", "data-testid": "orders" },
      mine.map(({ answer: a, status }) => {
        if (status === "paid") {
          return el("li", { class: "order paid" }, [el("strong", { text: "Paid ✓ " }), `Order ${a.order} is confirmed — it ships soon.`]);
        }
        const left = el("strong", { text: clock(a.deadline - Date.now() / 1000) });
        timers.push(() => (left.textContent = clock(a.deadline - Date.now() / 1000)));
        return el("li", { class: "order" }, [
          el("div", {}, [`Order ${a.order} · ${a.quantity} unit · pay within `, left]),
          el("div", { class: "row-buttons" }, [
            el("button", { class: "primary", type: "button", "data-testid": "pay", disabled: status === "paying", text: status === "paying" ? "Paying…" : "Pay now", onclick: () => pay(a) }),
            el("button", { class: "sheet-close", type: "button", text: "Cancel order", onclick: () => cancel(a) }),
          ]),
        ]);
      }),
    );
    if (timers.length) payTimer = setInterval(() => timers.forEach((t) => t()), 1000);
    return node;
  }

  function answerNode(sale) {
    if (!result) return null;
    if (result.kind === "wait") return el("div", { class: "answer wait", "data-testid": "buy-answer", text: "Grabbing…" });
    if (result.kind === "ok") {
      const a = result.answer;
      const payBy = new Date(a.deadline * 1000).toLocaleTimeString();
      return el("div", { class: "answer ok", "data-testid": "buy-answer" }, [
        el("div", {}, [el("strong", { text: "Got it! " }), `Order ${a.order} · ${a.quantity} × ${sale.title}`]),
        a.discount ? el("div", { "data-testid": "buy-total", text: `You pay ¥${yuan(a.total)} — ¥${yuan(a.discount)} off with your coupon` }) : null,
        el("div", { text: `Pay by ${payBy}, or the unit goes back to the stock.` }),
      ]);
    }
    return el("div", { class: "answer bad", "data-testid": "buy-answer" }, [el("strong", { text: `${result.title}. ` }), result.text]);
  }
}

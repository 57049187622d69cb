// Host console panels for the room features: product cards, flash sales, lucky bags, red
// packets. Each one appears only when the server has the feature (it shows up in the snapshot).
// The backend feed's panel shows the business-event feed's health (GET /api/rooms/{room}/feed).

import { clock, el, toast, yuan } from "./demo.js";
import { CATALOG } from "./catalog.js";
import { mountPrivatePanel } from "./host-private.js";
import { mountCouponPanel } from "./host-coupons.js";
import { mountGroupPanel } from "./panel-groupbuy-host.js";

export function mountHostPanels(ctx) {
  const root = document.getElementById("feature-panels");
  const state = { cards: [], cardsVersion: -1, sales: new Map() };
  ctx.state = state;
  ctx.root = root;
  mountCardsPanel(ctx);
  mountSalesPanel(ctx);
  mountGroupPanel(ctx);
  mountBagPanel(ctx);
  mountPacketPanel(ctx);
  mountCouponPanel(ctx);
  mountFeedPanel(ctx);
  mountPrivatePanel(ctx);
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

// ------------------------------------------------------------------ flash sales

function mountSalesPanel(ctx) {
  const { live, state, api } = ctx;
  const options = CATALOG.map((p) => el("option", { value: p.sku, text: p.title }));
  const form = el("form", { class: "stack", id: "sale-form" }, [
    el("div", { class: "grid2" }, [
      el("label", { class: "wide" }, ["Product", el("select", { id: "sale-sku", "data-testid": "sale-sku" }, options)]),
      el("label", {}, ["Sale price ¥", el("input", { id: "sale-price", type: "number", min: "0", step: "0.01", value: "99.00" })]),
      el("label", {}, ["Stock", el("input", { id: "sale-stock", "data-testid": "sale-stock", type: "number", min: "0", value: "20" })]),
      el("label", {}, ["Limit per viewer", el("input", { id: "sale-limit", "data-testid": "sale-limit", type: "number", min: "1", max: "10", value: "1" })]),
      el("label", {}, ["Pay within (s)", el("input", { id: "sale-pay", type: "number", min: "10", value: "300" })]),
    ]),
    el("div", { class: "row" }, [
      el("button", { class: "btn hot", "data-testid": "sale-create-open", type: "submit", value: "open", text: "Start sale now" }),
      el("button", { class: "btn ghost", "data-testid": "sale-create", type: "submit", value: "later", text: "Create, open later" }),
    ]),
  ]);
  const list = el("ul", { class: "items", "data-testid": "sales" });
  const panel = el("section", { class: "panel", "data-panel": "sales", hidden: true }, [el("h2", { text: "⚡ Flash sales" }), form, list]);
  ctx.root.append(panel);

  const priceOf = () => CATALOG.find((p) => p.sku === form.querySelector("#sale-sku").value);
  form.querySelector("#sale-sku").addEventListener("change", () => {
    form.querySelector("#sale-price").value = ((priceOf().price * 0.8) / 100).toFixed(2);
  });
  form.querySelector("#sale-price").value = ((CATALOG[0].price * 0.8) / 100).toFixed(2);

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const product = priceOf();
    const openNow = e.submitter?.value !== "later";
    try {
      const { sale } = await api("POST", "/sales", {
        sku: product.sku,
        title: product.title,
        price: Math.round(Number(form.querySelector("#sale-price").value) * 100),
        stock: Number(form.querySelector("#sale-stock").value),
        limit: Number(form.querySelector("#sale-limit").value),
        payment_s: Number(form.querySelector("#sale-pay").value),
        open: openNow,
      });
      put(sale);
      // Show it to viewers: (re)pin the product's card, linked to the sale.
      const card = { sku: product.sku, title: product.title, price: product.price, image: product.image, reminder: "秒杀", sale: sale.id };
      await act(ctx, "card_pin", card, null);
      toast(openNow ? `Sale ${sale.id} is live` : `Sale ${sale.id} created`, "ok");
    } catch (err) {
      toast(err.message, "bad");
    }
  });

  function put(sale) {
    const old = state.sales.get(sale.id);
    if (old && old.version > sale.version) return;
    state.sales.set(sale.id, { ...old, ...sale });
    const { series, push } = ctx.numbers;
    series.stock ??= {};
    series.stock[sale.id] ??= [];
    push(series.stock[sale.id], sale.stock);
    render();
    ctx.redraw();
  }
  ctx.putSale = put;

  live.on("snapshot", (snap) => {
    if (!Array.isArray(snap.sales)) return;
    panel.hidden = false;
    for (const sale of snap.sales) put(sale);
    refresh();
  });
  live.on("sale", (ev) => ev.sale && put(ev.sale));
  live.on("sold_out", (ev) => ev.sale && put(ev.sale));

  /** Host-only numbers (reserved, paid) come from the API, not from room events. */
  async function refresh() {
    if (panel.hidden) return;
    try {
      const { sales } = await api("GET", "/sales");
      for (const sale of sales) put(sale);
    } catch {
      // next poll
    }
  }
  ctx.pollHooks.push(refresh);

  async function call(sale, path, body, text) {
    try {
      const res = await api("POST", `/sales/${encodeURIComponent(sale.id)}${path}`, body);
      put(res.sale);
      if (text) toast(text, "ok");
    } catch (err) {
      toast(err.message, "bad");
    }
  }

  function render() {
    ctx.renderCards?.();
    const sales = [...state.sales.values()].sort((a, b) => (a.status === "closed") - (b.status === "closed"));
    list.replaceChildren(
      ...sales.map((s) => {
        const pct = s.total ? (100 * s.stock) / s.total : 0;
        const badge = s.status === "open" ? (s.sold_out ? ["hot", "sold out"] : ["on", "live"]) : [s.status === "closed" ? "" : "hot", s.status];
        return el("li", { class: "item", "data-sale": s.id }, [
          el("div", { class: "item-head" }, [
            el("div", {}, [
              el("div", { class: "item-title", text: s.title }),
              el("div", { class: "item-meta", text: `${s.id} · ¥${yuan(s.price)} · limit ${s.limit}` }),
            ]),
            el("span", { class: `state ${badge[0]}`, text: badge[1] }),
          ]),
          el("div", { class: "bar-mini" }, [el("div", { style: `width:${pct.toFixed(1)}%` })]),
          el("div", { class: "item-meta", "data-testid": "sale-numbers", text: `stock ${s.stock} / ${s.total} · reserved ${s.reserved ?? "–"} · paid ${s.paid ?? "–"}` }),
          s.status === "closed"
            ? null
            : el("div", { class: "item-actions" }, [
                s.status === "created"
                  ? el("button", { class: "btn small hot", type: "button", "data-testid": "sale-open", text: "Open", onclick: () => call(s, "/open", null, "Sale opened") })
                  : el("button", { class: "btn small danger", type: "button", "data-testid": "sale-close", text: "Close", onclick: () => call(s, "/close", null, "Sale closed") }),
                el("button", { class: "btn small ghost", type: "button", "data-testid": "stock-plus", text: "+10 stock", onclick: () => call(s, "/stock", { delta: 10 }) }),
                el("button", { class: "btn small ghost", type: "button", "data-testid": "stock-minus", text: "−10 stock", onclick: () => call(s, "/stock", { delta: -Math.min(10, s.stock) }) }),
              ]),
        ]);
      }),
    );
  }

  // Charts: stock over time per sale, and the funnel.
  const COLORS = ["#ff7a3d", "#35c6d0", "#c05bff", "#35d07f", "#ffb547"];
  ctx.drawHooks.push((charts, now) => {
    if (panel.hidden) return;
    const stock = ctx.numbers.series.stock || {};
    const ids = Object.keys(stock);
    document.getElementById("empty-stock").hidden = ids.length > 0;
    const legend = document.getElementById("stock-legend");
    legend.replaceChildren(
      ...ids.slice(-5).map((id, i) => el("span", {}, [el("i", { style: `--c:${COLORS[i % COLORS.length]}` }), state.sales.get(id)?.sku || id])),
    );
    if (ids.length) {
      charts.stock.draw(ids.slice(-5).map((id, i) => ({ name: id, color: COLORS[i % COLORS.length], points: stock[id], step: true })), now);
      const last = state.sales.get(ids[ids.length - 1]);
      document.getElementById("chart-stock").dataset.last = String(last?.stock ?? "");
    }
    drawFunnel(charts);
  });

  function drawFunnel(charts) {
    const counters = ctx.numbers.latest.counters || {};
    let reserved = 0;
    let paid = 0;
    for (const s of state.sales.values()) {
      reserved += (s.reserved || 0) + (s.paid || 0);
      paid += s.paid || 0;
    }
    const steps = [
      { label: "Card shown", value: counters.card_shown || 0 },
      { label: "Clicked", value: counters.card_clicks || 0 },
    ];
    const tried = counters.buy_tried ?? counters.sale_buys ?? counters.buys;
    if (tried !== undefined) steps.push({ label: "Buy tried", value: tried });
    steps.push({ label: "Reserved", value: reserved }, { label: "Paid", value: paid });
    document.getElementById("empty-funnel").hidden = true;
    charts.funnel.draw(steps);
    document.getElementById("chart-funnel").dataset.steps = steps.map((s) => `${s.label}=${s.value}`).join(",");
    ctx.numbers.setText("kpi-paid", paid);
    ctx.numbers.setText("kpi-reserved", reserved - paid);
  }
}

// ------------------------------------------------------------------ lucky bags

function mountBagPanel(ctx) {
  const { live } = ctx;
  const form = el("form", { class: "stack" }, [
    el("div", { class: "grid2" }, [
      el("label", { class: "wide" }, ["Prize", el("input", { id: "bag-prize", "data-testid": "bag-prize", maxlength: "60", value: "Longjing tea gift box" })]),
      el("label", {}, ["Declared value ¥", el("input", { id: "bag-value", type: "number", min: "0", step: "0.01", value: "128.00" })]),
      el("label", {}, ["Winners", el("input", { id: "bag-winners", "data-testid": "bag-winners", type: "number", min: "1", value: "3" })]),
      el("label", {}, ["Countdown (s)", el("input", { id: "bag-duration", "data-testid": "bag-duration", type: "number", min: "1", value: "60" })]),
      el("label", {}, [
        "Join by",
        el("select", { id: "bag-join", "data-testid": "bag-join-kind" }, [el("option", { value: "tap", text: "Tap to join" }), el("option", { value: "keyword", text: "Keyword comment" })]),
      ]),
      el("label", {}, ["Keyword", el("input", { id: "bag-keyword", maxlength: "20", value: "想要福袋" })]),
      el("label", {}, ["Must stay", el("select", { id: "bag-stay" }, [el("option", { value: "no", text: "No" }), el("option", { value: "yes", text: "In the room at the draw" })])]),
    ]),
    el("div", { class: "row" }, [
      el("button", { class: "btn hot", type: "submit", value: "open", "data-testid": "bag-create-open", text: "Create & start countdown" }),
      el("button", { class: "btn ghost", type: "submit", value: "later", text: "Create only" }),
    ]),
  ]);
  const status = el("div", { class: "items", "data-testid": "bag-current" });
  const panel = el("section", { class: "panel", "data-panel": "bag", hidden: true }, [el("h2", { text: "🎁 Lucky bag" }), form, status]);
  ctx.root.append(panel);
  let bag = null;
  let skew = 0;

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const $ = (id) => form.querySelector(`#${id}`);
    const rules = {
      prize: $("bag-prize").value,
      value_fen: Math.round(Number($("bag-value").value) * 100),
      winners: Number($("bag-winners").value),
      duration_s: Number($("bag-duration").value),
      join: $("bag-join").value,
      must_stay: $("bag-stay").value === "yes",
      open: e.submitter?.value !== "later",
    };
    if (rules.join === "keyword") rules.keyword = $("bag-keyword").value;
    const answer = await act(ctx, "bag_create", rules, rules.open ? "Lucky bag is open" : "Lucky bag created");
    if (answer?.bag) take(answer.bag);
  });

  function take(view) {
    if (!view) return;
    if (typeof view.left_s === "number" && typeof view.deadline === "number") skew = view.deadline - view.left_s - Date.now() / 1000;
    bag = view;
    render();
  }
  live.on("snapshot", (snap) => {
    if (!("bag" in snap)) return;
    panel.hidden = false;
    bag = null;
    take(snap.bag);
    render();
  });
  live.on("bag", (ev) => take(ev.bag));
  live.on("bag_drawn", (ev) => take(ev.bag));
  live.on("bag_count", (ev) => {
    if (bag?.id === ev.bag) {
      bag = { ...bag, count: ev.count };
      render();
    }
  });
  setInterval(() => {
    const t = document.getElementById("host-bag-time");
    if (t && bag?.state === "open") t.textContent = clock(bag.deadline - (Date.now() / 1000 + skew));
  }, 250);

  function render() {
    if (!bag) {
      status.replaceChildren(el("div", { class: "item-meta", text: "No lucky bag yet." }));
      return;
    }
    const b = bag;
    const stateClass = b.state === "open" ? "on" : b.state === "drawn" ? "" : "hot";
    const actions = [];
    if (b.state === "created") actions.push(el("button", { class: "btn small hot", type: "button", text: "Start countdown", onclick: () => act(ctx, "bag_open", { bag: b.id }) }));
    if (b.state === "open") actions.push(el("button", { class: "btn small", type: "button", "data-testid": "bag-draw", text: "Draw now", onclick: () => act(ctx, "bag_draw", { bag: b.id }) }));
    if (b.state === "created" || b.state === "open") actions.push(el("button", { class: "btn small danger", type: "button", text: "Revoke", onclick: () => act(ctx, "bag_revoke", { bag: b.id }, "Lucky bag revoked") }));
    status.replaceChildren(
      el("div", { class: "item" }, [
        el("div", { class: "item-head" }, [
          el("div", {}, [
            el("div", { class: "item-title", text: b.prize }),
            el("div", { class: "item-meta", text: `${b.winners} winner(s) · ${b.join === "keyword" ? `keyword “${b.keyword}”` : "tap to join"} · ${b.count ?? 0} joined` }),
          ]),
          el("span", { class: `state ${stateClass}` }, [b.state === "open" ? el("span", { id: "host-bag-time", text: clock(b.deadline - (Date.now() / 1000 + skew)) }) : b.state]),
        ]),
        b.state === "drawn"
          ? el("div", { class: "item-meta", "data-testid": "bag-host-result", text: `Winners: ${(b.winner_list || []).map((w) => `${w.name} (${w.id})`).join(", ") || "none"}` })
          : null,
        actions.length ? el("div", { class: "item-actions" }, actions) : null,
      ]),
    );
  }
}

// ------------------------------------------------------------------ red packets

function mountPacketPanel(ctx) {
  const { live } = ctx;
  const form = el("form", { class: "stack" }, [
    el("div", { class: "grid2" }, [
      el("label", {}, ["Total ¥", el("input", { id: "packet-total", "data-testid": "packet-total", type: "number", min: "0.01", step: "0.01", value: "88.88" })]),
      el("label", {}, ["Packets", el("input", { id: "packet-count", "data-testid": "packet-count", type: "number", min: "1", value: "10" })]),
      el("label", {}, ["Title", el("input", { id: "packet-title", maxlength: "30", value: "恭喜发财" })]),
      el("label", {}, ["Keyword (optional)", el("input", { id: "packet-keyword", maxlength: "20", placeholder: "e.g. 主播好" })]),
    ]),
    el("button", { class: "btn hot", type: "submit", "data-testid": "packet-send", text: "Send red packet" }),
  ]);
  const list = el("ul", { class: "items" });
  const panel = el("section", { class: "panel", "data-panel": "packets", hidden: true }, [el("h2", { text: "🧧 Red packets" }), form, list]);
  ctx.root.append(panel);
  const packets = new Map();

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const $ = (id) => form.querySelector(`#${id}`);
    const body = {
      total: Math.round(Number($("packet-total").value) * 100),
      count: Number($("packet-count").value),
      title: $("packet-title").value || "红包",
    };
    if ($("packet-keyword").value.trim()) body.keyword = $("packet-keyword").value.trim();
    await act(ctx, "packet_create", body, "Red packet sent");
  });
  live.on("snapshot", (snap) => {
    if (!Array.isArray(snap.packets)) return;
    panel.hidden = false;
    for (const p of snap.packets) packets.set(p.id, p);
    render();
  });
  live.on("packet", (ev) => {
    if (!ev.packet) return;
    packets.set(ev.packet.id, { ...ev.packet, summary: ev.summary, refund: ev.refund });
    render();
  });

  function outcome(p) {
    if (p.refund) return `closed · ${p.summary.grabbed} grabbed · ¥${yuan(p.refund.fen)} refunded`;
    if (p.summary) return `all ${p.count} grabbed in ${p.summary.took_s}s · luckiest ${p.summary.best.user.name} ¥${yuan(p.summary.best.amount)}`;
    return `${p.left} of ${p.count} left${p.keyword ? ` · keyword “${p.keyword}”` : ""}`;
  }

  function render() {
    const recent = [...packets.values()].sort((a, b) => b.created - a.created).slice(0, 4);
    list.replaceChildren(
      ...recent.map((p) =>
        el("li", { class: "item" }, [
          el("div", { class: "item-head" }, [
            el("div", {}, [
              el("div", { class: "item-title", text: `${p.title} · ¥${yuan(p.total)}` }),
              el("div", { class: "item-meta", "data-testid": "packet-outcome", text: outcome(p) }),
            ]),
            el("span", { class: `state ${p.state === "open" ? "on" : ""}`, text: p.state }),
            p.state === "finished"
              ? null
              : el("button", {
                  class: "btn",
                  type: "button",
                  "data-testid": "packet-close",
                  text: "Close",
                  onclick: () => act(ctx, "packet_close", { packet: p.id }, "Red packet closed; the rest is refunded"),
                }),
          ]),
        ]),
      ),
    );
  }
}

// ------------------------------------------------------------------ backend feed

/** The business-event feed's health as the answering process sees it (docs/events.md). */
function mountFeedPanel(ctx) {
  const numbers = el("div", { class: "item-meta", "data-testid": "feed-numbers" });
  const list = el("ul", { class: "items", "data-testid": "feed-endpoints" });
  const tag = el("span", { class: "tag", id: "feed-state", text: "…" });
  const panel = el("section", { class: "panel", "data-panel": "feed", hidden: true }, [
    el("h2", {}, ["📮 Backend feed", tag]),
    numbers,
    list,
  ]);
  ctx.root.append(panel);

  async function refresh() {
    let h;
    try {
      h = await ctx.api("GET", "/feed");
    } catch {
      return; // no feed on this server, or not now: next poll
    }
    panel.hidden = false;
    const failing = h.endpoints.some((e) => e.failing_streak > 0);
    tag.textContent = !h.endpoints.length ? "no endpoint" : failing ? "retrying" : "healthy";
    tag.dataset.state = !h.endpoints.length ? "idle" : failing ? "bad" : "ok";
    numbers.textContent =
      `delivered ${h.delivered} · failed requests ${h.failures} · dead letters ${h.dead_letters}` +
      ` · lost to the bound ${h.skipped} · lag ${h.lag_s.toFixed(2)} s`;
    list.replaceChildren(
      ...h.endpoints.map((e) =>
        el("li", { class: "item", "data-endpoint": e.id }, [
          el("div", { class: "item-title", text: `${e.id} → ${e.host}` }),
          el("div", {
            class: "item-meta",
            text:
              `delivered ${e.delivered ?? 0} · failures ${e.failures ?? 0}` +
              (e.last_error ? ` · last error: ${e.last_error}` : ""),
          }),
        ]),
      ),
    );
  }
  ctx.pollHooks.push(refresh);
}

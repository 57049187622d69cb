// Coupons (优惠券): the coupon card while a batch is open, claiming, the viewer's own coupons,
// the coupon the flash-sale buy takes (``ctx.couponFor``), and the coupons the group card
// offers (``ctx.couponsFor``, ``ctx.onCoupons``). See docs/coupons.md.
//
// The badge and the sheet are built here, so the page's HTML needs nothing of its own.

import { el, toast, yuan } from "./demo.js";

const CLAIM_ERRORS = {
  coupon_gone: () => "Too slow — every coupon has been claimed.",
  already_claimed: () => "You already hold one of these.",
  claim_closed: () => "Claiming has ended.",
  not_started: () => "Not open yet — it opens in a moment.",
  not_eligible: (e, b) => (b?.keyword ? `Comment “${b.keyword}” first, then claim.` : "Follow the host first, then claim."),
  read_only: () => "Sign in to claim coupons.",
};

/** What a coupon or a batch takes off, in words: "¥3.00 off", "20% off (up to ¥5.00)". */
export function offText(c) {
  const off = c.kind === "percent" ? `${c.value}% off${c.cap ? ` (up to ¥${yuan(c.cap)})` : ""}` : `¥${yuan(c.value)} off`;
  return c.min ? `${off} orders from ¥${yuan(c.min)}` : off;
}

export function mountCoupons(ctx) {
  const { live } = ctx;
  const batches = new Map(); // id -> card
  const wallet = new Map(); // coupon id -> coupon
  const said = new Map(); // batch id -> the answer to this viewer's last claim

  const badge = el("button", { class: "badge", id: "coupon-badge", type: "button", hidden: true, "data-testid": "coupon-badge", style: "background:linear-gradient(135deg,#ff9a3d,#ff4d6d);color:#fff" }, [
    el("span", { class: "badge-icon", text: "🎟" }),
    el("span", { class: "badge-label", text: "Coupon" }),
  ]);
  document.getElementById("badges").append(badge);
  const body = el("div", { class: "coupon-body", "data-testid": "coupon-body" });
  const sheet = el("section", { class: "sheet", id: "coupon-sheet", hidden: true, "data-testid": "coupon-sheet", "aria-label": "Coupons" }, [
    el("div", { class: "sheet-grip" }),
    el("h2", { text: "🎟 Coupons" }),
    body,
    el("button", { class: "sheet-close", type: "button", text: "Close", onclick: () => ctx.sheets.close() }),
  ]);
  document.getElementById("room").append(sheet);
  badge.addEventListener("click", () => {
    render();
    ctx.sheets.open("coupon-sheet");
  });

  async function refresh() {
    try {
      const answer = await live.send("coupon_wallet");
      wallet.clear();
      for (const c of answer.coupons) wallet.set(c.id, c);
    } catch {
      // guests hold no coupons; a failed read leaves the last one shown
    }
    render();
  }

  live.on("snapshot", (snap) => {
    if (!Array.isArray(snap.coupons)) return;
    batches.clear();
    for (const b of snap.coupons) batches.set(b.id, b);
    refresh();
  });
  live.on("coupon", (ev) => {
    if (!ev.batch) return;
    const fresh = !batches.has(ev.batch.id);
    batches.set(ev.batch.id, ev.batch);
    if (fresh && ev.batch.status === "open") ctx.notice(`🎟 The host is handing out coupons: ${ev.batch.title} · ${offText(ev.batch)}`);
    render();
  });
  live.on("coupon_claimed", (ev) => {
    wallet.set(ev.coupon.id, ev.coupon);
    render();
  });
  live.on("coupon_unlocked", () => toast("Unlocked: claim your coupon now!", "ok"));

  async function claim(batch) {
    try {
      const answer = await live.send("coupon_claim", { batch: batch.id });
      wallet.set(answer.coupon.id, answer.coupon);
      said.delete(batch.id);
      toast(`Coupon claimed: ${offText(answer.coupon)}`, "ok");
    } catch (err) {
      const say = CLAIM_ERRORS[err.code];
      said.set(batch.id, say ? say(err, batch) : err.message);
      if (err.code === "already_claimed" && err.details?.coupon) wallet.set(err.details.coupon.id, err.details.coupon);
    }
    render();
  }

  /** This viewer's coupons usable on one unit of ``item`` (a sale or a deal: ``sku``,
   * ``price``): unused, valid, for its sku; each with the fen it takes off (``off``, as the
   * server computes it), best first. */
  ctx.couponsFor = (item) => {
    const now = Date.now() / 1000;
    const usable = [...wallet.values()].filter(
      (c) => c.status === "claimed" && (!c.valid_until || c.valid_until > now) && (!c.sku || c.sku === item.sku) && item.price >= (c.min || 0),
    );
    const off = (c) => Math.min(item.price, c.kind === "percent" ? Math.min(Math.floor((item.price * c.value) / 100), c.cap || Infinity) : c.value);
    return usable.map((c) => ({ ...c, off: off(c) })).sort((a, b) => b.off - a.off);
  };
  /** The best coupon of this viewer for one unit of ``sale``. */
  ctx.couponFor = (sale) => ctx.couponsFor(sale)[0]?.id;
  /** A buy answered (with or without a coupon), or an order was cancelled: read the wallet again. */
  ctx.couponsChanged = refresh;
  /** ``fn`` runs whenever this viewer's coupons may have changed (the group card re-renders). */
  const listeners = [];
  ctx.onCoupons = (fn) => listeners.push(fn);

  function render() {
    for (const fn of listeners) fn();
    const holding = new Set([...wallet.values()].map((c) => c.batch));
    const open = [...batches.values()].filter((b) => b.status === "open" || b.status === "scheduled");
    badge.hidden = !open.some((b) => !holding.has(b.id)) && ![...wallet.values()].some((c) => c.status === "claimed");
    // the batches one may still claim, and those this viewer holds a coupon of
    const shown = [...batches.values()].filter((b) => open.includes(b) || holding.has(b.id));
    const cards = shown.map((b) => {
      const mine = holding.has(b.id);
      return el("div", { class: "coupon-card", "data-testid": "coupon-card", style: "border:1px dashed #ff4d6d;border-radius:14px;padding:12px;margin-bottom:10px" }, [
        el("div", { style: "font-size:20px;font-weight:800;color:#e0224d", text: offText(b) }),
        el("div", { text: `${b.title} · ${b.left} of ${b.count} left${b.keyword ? ` · comment “${b.keyword}”` : ""}${b.eligibility === "followers" ? " · followers only" : ""}` }),
        mine
          ? el("div", { "data-testid": "coupon-state", text: "Claimed ✓ — it comes off your next buy" })
          : el("button", { class: "primary", type: "button", "data-testid": "coupon-claim", text: "Claim", onclick: () => claim(b), style: "margin-top:8px" }),
        said.has(b.id) ? el("div", { class: "answer bad", "data-testid": "coupon-answer", text: said.get(b.id) }) : null,
      ]);
    });
    const mine = [...wallet.values()].map((c) =>
      el("li", { "data-testid": "my-coupon", text: `${offText(c)} · ${c.status === "used" ? "used" : "ready to use"}${c.sku ? ` · ${c.sku} only` : ""}` }),
    );
    body.replaceChildren(
      ...(cards.length ? cards : [el("p", { text: "No coupons being handed out right now." })]),
      mine.length ? el("h3", { text: "My coupons" }) : null,
      mine.length ? el("ul", { "data-testid": "my-coupons" }, mine) : null,
    );
  }
}

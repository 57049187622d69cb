// Host console panel for coupons (优惠券): issue a batch, watch it being claimed, close it early.
// Appears only when the server runs the coupons feature (``coupons`` in the snapshot).

import { el, yuan } from "./demo.js";
import { act } from "./host-panels.js";
import { offText } from "./panel-coupon.js";

export function mountCouponPanel(ctx) {
  const { live } = ctx;
  const field = (label, attrs) => el("label", {}, [label, el("input", attrs)]);
  const form = el("form", { class: "stack" }, [
    el("div", { class: "grid2" }, [
      el("label", {}, [
        "Kind",
        el("select", { id: "coupon-kind", "data-testid": "coupon-kind" }, [
          el("option", { value: "amount", text: "¥ off" }),
          el("option", { value: "percent", text: "% off" }),
        ]),
      ]),
      field("Off (¥ or %)", { id: "coupon-value", "data-testid": "coupon-value", type: "number", min: "0.01", step: "0.01", value: "3" }),
      field("Cap ¥ (% only)", { id: "coupon-cap", type: "number", min: "0", step: "0.01", value: "" }),
      field("Min order ¥", { id: "coupon-min", type: "number", min: "0", step: "0.01", value: "" }),
      field("Coupons", { id: "coupon-count", "data-testid": "coupon-count", type: "number", min: "1", value: "50" }),
      field("Claim for (min)", { id: "coupon-claim-min", type: "number", min: "0", value: "10" }),
      field("Valid for (min)", { id: "coupon-valid-min", type: "number", min: "0", value: "60" }),
      el("label", {}, [
        "Who may claim",
        el("select", { id: "coupon-eligibility", "data-testid": "coupon-eligibility" }, [
          el("option", { value: "all", text: "all viewers" }),
          el("option", { value: "followers", text: "followers" }),
          el("option", { value: "keyword", text: "keyword commenters" }),
        ]),
      ]),
      field("Keyword", { id: "coupon-keyword", maxlength: "20", placeholder: "e.g. 想要" }),
    ]),
    el("button", { class: "btn hot", type: "submit", "data-testid": "coupon-issue", text: "Issue coupons" }),
  ]);
  const list = el("ul", { class: "items", "data-testid": "coupon-batches" });
  const panel = el("section", { class: "panel", "data-panel": "coupons", hidden: true }, [el("h2", { text: "🎟 Coupons" }), form, list]);
  ctx.root.append(panel);
  const batches = new Map();

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const $ = (id) => form.querySelector(`#${id}`);
    const fen = (id) => Math.round(Number($(id).value || 0) * 100);
    const kind = $("coupon-kind").value;
    const body = {
      kind,
      value: kind === "percent" ? Math.round(Number($("coupon-value").value)) : fen("coupon-value"),
      count: Number($("coupon-count").value),
      claim_s: Number($("coupon-claim-min").value || 0) * 60,
      valid_s: Number($("coupon-valid-min").value || 0) * 60,
      eligibility: $("coupon-eligibility").value,
    };
    if (kind === "percent" && fen("coupon-cap")) body.cap = fen("coupon-cap");
    if (fen("coupon-min")) body.min = fen("coupon-min");
    if (body.eligibility === "keyword") body.keyword = $("coupon-keyword").value.trim();
    await act(ctx, "coupon_issue", body, "Coupons issued");
  });
  live.on("snapshot", (snap) => {
    if (!Array.isArray(snap.coupons)) return;
    panel.hidden = false;
    for (const b of snap.coupons) batches.set(b.id, b);
    render();
  });
  live.on("coupon", (ev) => {
    if (!ev.batch) return;
    batches.set(ev.batch.id, ev.batch);
    render();
  });

  function render() {
    const recent = [...batches.values()].reverse().slice(0, 4);
    list.replaceChildren(
      ...recent.map((b) =>
        el("li", { class: "item" }, [
          el("div", { class: "item-head" }, [
            el("div", {}, [
              el("div", { class: "item-title", text: `${b.title} · ${offText(b)}` }),
              el("div", { class: "item-meta", "data-testid": "coupon-left", text: `${b.left} of ${b.count} left · ${b.eligibility}${b.keyword ? ` “${b.keyword}”` : ""}${b.min ? ` · min ¥${yuan(b.min)}` : ""}` }),
            ]),
            el("span", { class: `state ${b.status === "open" ? "on" : ""}`, text: b.status }),
            b.status === "open" || b.status === "scheduled"
              ? el("button", { class: "btn", type: "button", "data-testid": "coupon-close", text: "Close", onclick: () => act(ctx, "coupon_close", { batch: b.id }, "Claiming closed") })
              : null,
          ]),
        ]),
      ),
    );
  }
}

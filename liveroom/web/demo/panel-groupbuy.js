// Group buys (拼团): a badge while a deal is open, and a sheet with the deal, the open groups
// and this viewer's own group card (members, slots left, countdown). Start, join and match are
// WebSocket commands; a share link (?deal=D&group=G) opens the sheet on that group, read over
// HTTP with the viewer's token so that it shows even when the group is not among the fullest.
//
// Events: ``deal`` (lifecycle), ``groups`` (stock and the groups that moved, batched),
// ``group_formed`` and ``group_failed``, and the private ``group_order`` (a member who named a
// coupon: their order's price). Everything a user typed reaches the page as text.
//
// Coupons: the deal offers the viewer's claimed coupons that apply (the coupon panel's wallet,
// ``ctx.couponsFor``), best first, with the price to pay; the one picked goes with the place.
// It is checked when the place is taken and used by the order when the group forms.

import { clock, el, serverClock, toast, yuan } from "./demo.js";

const ERRORS = {
  deal_sold_out: "No units left for this deal right now.",
  group_full: "That group has just formed — start or match another.",
  group_not_open: "That group's time is up.",
  already_in_group: "You are in that group already.",
  no_open_group: "No open group to join: start one!",
  limit_reached: "You already hold as many as this deal allows.",
  not_started: "The deal has not started yet.",
  ended: "The deal has ended.",
  no_group: "That group does not exist.",
  read_only: "Sign in to join a group.",
  coupon_used: "That coupon is already used by another order.",
  coupon_expired: "That coupon has expired.",
  not_applicable: "That coupon does not apply to this deal.",
  not_yours: "That coupon is not yours.",
};

export function mountGroups(ctx) {
  const { live, me } = ctx;
  const params = new URLSearchParams(location.search);
  const deals = new Map(); // id -> deal (public form)
  const groups = new Map(); // id -> group card
  const mine = new Set(); // group ids this viewer is in
  let focus = params.get("group"); // a shared group to show first
  let requests = 0;
  const picked = new Map(); // deal id -> the coupon id picked ("" for none), once touched
  const placed = new Map(); // group id -> {coupon, discount} of this viewer's place
  const orders = new Map(); // order id -> this viewer's order (from group_order)
  ctx.onCoupons?.(() => render());

  const badge = el("button", { class: "badge group-badge", type: "button", hidden: true, "data-testid": "group-badge" }, [
    el("span", { class: "badge-icon", text: "👥" }),
    el("span", { class: "badge-label", text: "拼团" }),
    el("span", { class: "badge-time", id: "group-badge-price" }),
  ]);
  document.getElementById("badges").append(badge);
  const body = el("div", { class: "group-body" });
  const sheet = el("section", { class: "sheet", id: "group-sheet", hidden: true, "data-testid": "group-sheet", "aria-label": "Group buy" }, [
    el("div", { class: "sheet-grip" }),
    body,
    el("button", { class: "sheet-close", type: "button", text: "Close", onclick: () => ctx.sheets.close() }),
  ]);
  document.getElementById("room").append(sheet);
  badge.addEventListener("click", () => {
    render();
    ctx.sheets.open("group-sheet");
  });

  function putGroup(g) {
    const old = groups.get(g.id);
    if (old && old.status !== "open" && g.status === "open") return; // an outcome never goes back
    groups.set(g.id, g);
    if (g.members.some((m) => m.user === me.id)) mine.add(g.id);
  }

  live.on("snapshot", (snap) => {
    if (!Array.isArray(snap.deals)) return;
    deals.clear();
    for (const d of snap.deals) {
      deals.set(d.id, d);
      for (const g of d.groups || []) putGroup(g);
    }
    if (focus && params.get("deal")) loadShared(params.get("deal"), focus);
    render();
  });
  live.on("deal", (ev) => {
    if (ev.deal.status === "closed") deals.delete(ev.deal.id);
    else deals.set(ev.deal.id, { ...deals.get(ev.deal.id), ...ev.deal });
    render();
  });
  live.on("groups", (ev) => {
    deals.set(ev.deal.id, { ...deals.get(ev.deal.id), ...ev.deal });
    for (const g of ev.groups) putGroup(g);
    render();
  });
  for (const kind of ["group_formed", "group_failed"]) {
    live.on(kind, (ev) => {
      putGroup(ev.group);
      if (mine.has(ev.group.id)) {
        if (kind === "group_formed") ctx.note(`👥 Your group is complete! Your order at ¥${yuan(deals.get(ev.group.deal)?.price ?? 0)} is reserved: pay to confirm.`);
        else ctx.note("👥 Your group did not fill in time; nothing is charged.");
      }
      render();
    });
  }

  live.on("group_order", (ev) => {
    orders.set(ev.order.id, ev.order);
    const o = ev.order;
    if (o.coupon) ctx.note(`🎟 Your coupon took ¥${yuan(o.discount)} off: you pay ¥${yuan(o.total)}.`);
    else ctx.note(`🎟 Your coupon could not be used (${o.coupon_refused}): you pay ¥${yuan(o.total)}.`);
    ctx.couponsChanged?.();
    render();
  });

  /** The coupon going with a place in ``deal``: the one picked, else the best that applies. */
  function couponOf(deal) {
    const usable = ctx.couponsFor?.(deal) ?? [];
    const choice = picked.get(deal.id);
    if (choice === undefined) return usable[0];
    return usable.find((c) => c.id === choice);
  }

  async function loadShared(deal, group) {
    try {
      const res = await fetch(`/api/rooms/${encodeURIComponent(ctx.room)}/deals/${encodeURIComponent(deal)}/groups/${encodeURIComponent(group)}`, {
        headers: { authorization: `Bearer ${ctx.token()}` },
      });
      if (!res.ok) return;
      const card = await res.json();
      deals.set(card.deal.id, { ...deals.get(card.deal.id), ...card.deal });
      putGroup(card.group);
      render();
      ctx.sheets.open("group-sheet");
    } catch {
      // the link's group is only a hint: the deal's own groups still show
    }
  }

  async function take(type, fields) {
    requests += 1;
    const coupon = couponOf(deals.get(fields.deal) ?? {})?.id;
    try {
      const answer = await live.send(type, { ...fields, coupon, request_id: `g-${Date.now().toString(36)}-${requests}` });
      putGroup(answer.group);
      mine.add(answer.group.id);
      if (answer.coupon) placed.set(answer.group.id, { coupon: answer.coupon, discount: answer.discount });
      focus = answer.group.id;
      if (answer.formed) toast("Group complete — your order is reserved!", "ok");
      else toast(`You're in! ${answer.group.needs} more to go.`, "ok");
    } catch (err) {
      toast(ERRORS[err.code] || err.message, "bad");
      if (err.details?.group) putGroup(err.details.group);
    }
    render();
  }

  function render() {
    const open = [...deals.values()].filter((d) => d.status === "open");
    badge.hidden = open.length === 0;
    if (open.length) document.getElementById("group-badge-price").textContent = `¥${yuan(open[0].price)}`;
    const parts = [];
    for (const deal of open) {
      parts.push(
        el("h2", { text: `👥 ${deal.title}` }),
        el("div", { class: "group-deal", "data-testid": "group-deal" }, [
          el("span", { class: "group-price", text: `¥${yuan(deal.price)}` }),
          ` · ${deal.size} people per group · ${deal.stock} left`,
        ]),
        couponPicker(deal) ?? "",
        el("div", { class: "row-buttons" }, [
          el("button", { class: "primary", type: "button", "data-testid": "group-start", text: "Start a group", onclick: () => take("start_group", { deal: deal.id }) }),
          el("button", { class: "primary muted", type: "button", "data-testid": "group-match", text: "Join any group", onclick: () => take("match_group", { deal: deal.id }) }),
        ]),
      );
      const own = [...groups.values()].filter((g) => g.deal === deal.id && (mine.has(g.id) || g.id === focus));
      for (const g of own) parts.push(card(g, deal, true));
      const others = [...groups.values()]
        .filter((g) => g.deal === deal.id && g.status === "open" && !own.includes(g))
        .sort((a, b) => b.members.length - a.members.length || a.deadline - b.deadline)
        .slice(0, 5);
      if (others.length) parts.push(el("h3", { text: "Open groups" }), ...others.map((g) => card(g, deal, false)));
    }
    if (!parts.length) parts.push(el("p", { text: "No group deal right now." }));
    body.replaceChildren(...parts);
  }

  /** The viewer's usable coupons for ``deal`` (none: nothing shown), and what they would pay. */
  function couponPicker(deal) {
    const usable = ctx.couponsFor?.(deal) ?? [];
    if (!usable.length) return null;
    const chosen = couponOf(deal);
    const options = [el("option", { value: "", text: "No coupon" })];
    for (const c of usable) {
      options.push(el("option", { value: c.id, text: `🎟 −¥${yuan(c.off)}${c.sku ? ` · ${c.sku} only` : ""}` }));
    }
    const select = el("select", { class: "group-coupon", "data-testid": "group-coupon", "aria-label": "Coupon" }, options);
    select.value = chosen?.id ?? "";
    select.addEventListener("change", () => {
      picked.set(deal.id, select.value);
      render();
    });
    const pay = deal.price - (chosen?.off ?? 0);
    return el("div", { class: "group-coupon-line" }, [
      select,
      el("span", { class: "group-pay", "data-testid": "group-pay", text: chosen ? `You pay ¥${yuan(pay)} (¥${yuan(chosen.off)} off)` : `You pay ¥${yuan(pay)}` }),
    ]);
  }

  /** What this viewer's order in a formed group costs, as far as the page knows. */
  function orderText(g, deal) {
    const id = g.orders?.[me.id] ?? "";
    const known = orders.get(id);
    if (known) return `Order ${id} reserved: you pay ¥${yuan(known.total)}${known.discount ? ` (¥${yuan(known.discount)} off with your coupon)` : ""}`;
    return `Order ${id} reserved at ¥${yuan(deal.price)}`;
  }

  function card(g, deal, own) {
    const member = mine.has(g.id);
    const status = g.status === "formed" ? "Formed ✓" : g.status === "failed" ? "Failed" : `${g.needs} more needed`;
    const slots = Array.from({ length: g.size }, (_, i) => {
      const m = g.members[i];
      return el("span", { class: `group-slot${m ? " filled" : ""}`, title: m?.name || "free" }, [m ? m.name.slice(0, 1).toUpperCase() : "?"]);
    });
    return el("div", { class: `group-card${own ? " own" : ""} ${g.status}`, "data-testid": own ? "group-card" : "group-open", "data-group": g.id }, [
      el("div", { class: "group-slots" }, slots),
      el("div", { class: "group-members", "data-testid": "group-members", text: g.members.map((m) => m.name).join(", ") }),
      el("div", { class: "group-line" }, [
        el("span", { class: "group-status", "data-testid": "group-status", text: status }),
        el("span", { class: "group-needs", "data-testid": "group-slots-left", text: `${g.needs} slot${g.needs === 1 ? "" : "s"} left` }),
        g.status === "open" ? el("span", { class: "group-countdown", "data-testid": "group-countdown", "data-deadline": g.deadline, text: clock(g.deadline - serverClock.now()) }) : null,
      ]),
      g.status === "formed" && member ? el("div", { class: "group-order", "data-testid": "group-order", text: orderText(g, deal) }) : null,
      g.status === "open" && placed.has(g.id)
        ? el("div", { class: "group-order", "data-testid": "group-coupon-held", text: `🎟 Your coupon takes ¥${yuan(placed.get(g.id).discount)} off when the group forms` })
        : null,
      g.status === "open" && !member
        ? el("button", { class: "primary group-join", type: "button", "data-testid": `group-join-${g.id}`, text: "Join this group", onclick: () => take("join_group", { deal: deal.id, group: g.id }) })
        : null,
    ]);
  }

  // the countdowns tick while the sheet is open; nothing else re-renders on a timer
  setInterval(() => {
    if (sheet.hidden) return;
    for (const node of sheet.querySelectorAll("[data-deadline]")) node.textContent = clock(Number(node.dataset.deadline) - serverClock.now());
  }, 1000);
}

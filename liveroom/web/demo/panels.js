// Feature panels of the viewer page. Each panel module subscribes to its own events; they share
// ``state`` (the pinned cards, the flash sales by id) and the sheet helpers below.

import { mountCards } from "./panel-cards.js";
import { mountSales } from "./panel-sale.js";
import { mountBag } from "./panel-bag.js";
import { mountPackets } from "./panel-packet.js";
import { mountPrivate } from "./panel-private.js";
import { mountCoupons } from "./panel-coupon.js";
import { mountGroups } from "./panel-groupbuy.js";

export function mountPanels(ctx) {
  const state = { cards: [], cardsVersion: -1, sales: new Map() };
  const full = { ...ctx, state, sheets };
  mountCards(full);
  mountSales(full);
  mountBag(full);
  mountPackets(full);
  mountPrivate(full);
  mountCoupons(full);
  mountGroups(full);
  return full;
}

/** The bottom sheets: one open at a time, closed by the backdrop or their Close button. */
export const sheets = {
  open(id) {
    for (const s of document.querySelectorAll(".sheet")) s.hidden = s.id !== id;
    document.getElementById("sheet-backdrop").hidden = false;
  },
  close() {
    for (const s of document.querySelectorAll(".sheet")) s.hidden = true;
    document.getElementById("sheet-backdrop").hidden = true;
  },
  isOpen(id) {
    return !document.getElementById(id).hidden;
  },
};

document.getElementById("sheet-backdrop").addEventListener("click", () => sheets.close());
for (const button of document.querySelectorAll("[data-close]")) button.addEventListener("click", () => sheets.close());

// Host console panel for private traffic (私域): the follower count, the community invite card
// and the customer-service card (for this room, or for every room of the host), and scheduling
// the room's next live for bookings. See docs/private-traffic.md.

import { el, toast } from "./demo.js";

export function mountPrivatePanel(ctx) {
  const { live, api } = ctx;
  const followers = el("span", { class: "tag", "data-testid": "host-followers", text: "…" });
  const current = el("div", { class: "item-meta", "data-testid": "private-cards" });
  const kind = el("select", { "aria-label": "card", "data-testid": "card-kind" }, [
    el("option", { value: "invite", text: "Invite card (after a follow)" }),
    el("option", { value: "service", text: "Service card (after payment)" }),
  ]);
  const scope = el("select", { "aria-label": "for", "data-testid": "card-scope" }, [
    el("option", { value: "room", text: "this room" }),
    el("option", { value: "host", text: "all my rooms" }),
  ]);
  const message = el("input", { "data-testid": "card-message", maxlength: 200, placeholder: "e.g. 加入粉丝群，福利抢先看", required: true });
  const link = el("input", { "data-testid": "card-link", maxlength: 500, placeholder: "link: https://…" });
  const image = el("input", { "data-testid": "card-image", maxlength: 500, placeholder: "QR image: https://… or /path" });
  const cardForm = el("form", { class: "stack" }, [
    el("div", { class: "row" }, [kind, scope]),
    ...[message, link, image].map((input) => el("div", { class: "row" }, [input])),
    el("div", { class: "row" }, [
      el("button", { class: "btn", "data-testid": "card-save", text: "Save card" }),
      el("button", { class: "btn ghost", type: "button", "data-testid": "card-remove", text: "Remove", onclick: remove }),
    ]),
  ]);
  const title = el("input", { "data-testid": "schedule-title", maxlength: 200, placeholder: "next live, e.g. 周五晚8点新茶上市", required: true });
  const starts = el("input", { type: "datetime-local", "data-testid": "schedule-starts", "aria-label": "starts" });
  const bookings = el("div", { class: "item-meta", "data-testid": "host-booking" });
  const scheduleForm = el("form", { class: "stack" }, [el("div", { class: "row" }, [title]), el("div", { class: "row" }, [starts, el("button", { class: "btn", "data-testid": "schedule-save", text: "Schedule" })]), bookings]);
  const panel = el("section", { class: "panel", "data-panel": "private", hidden: true }, [
    el("h2", {}, ["💬 Private traffic", followers]),
    current,
    cardForm,
    el("h2", {}, ["📅 Next live"]),
    scheduleForm,
  ]);
  ctx.root.append(panel);

  live.on("snapshot", (snap) => {
    if (!("followers" in snap)) return; // the server has no private-traffic feature
    panel.hidden = false;
    showFollowers(snap.followers);
    showBooking(snap.booking);
    loadCards();
  });
  live.on("followers", (ev) => showFollowers(ev.count));
  live.on("booking", (ev) => showBooking(ev.booking));

  cardForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { message: message.value.trim() };
    if (link.value.trim()) body.link = link.value.trim();
    if (image.value.trim()) body.image = image.value.trim();
    try {
      showCards(await api("PUT", `/private-cards/${kind.value}?scope=${scope.value}`, body));
      toast("Card saved", "ok");
    } catch (err) {
      toast(err.message || err.code, "bad");
    }
  });

  async function remove() {
    try {
      showCards(await api("DELETE", `/private-cards/${kind.value}?scope=${scope.value}`));
    } catch (err) {
      toast(err.message || err.code, "bad");
    }
  }

  scheduleForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { title: title.value.trim() };
    if (starts.value) body.starts = new Date(starts.value).getTime() / 1000;
    try {
      const answer = await api("PUT", "/booking", body);
      showBooking(answer.booking);
      toast("Next live scheduled: viewers can book it", "ok");
    } catch (err) {
      toast(err.message || err.code, "bad");
    }
  });

  async function loadCards() {
    try {
      showCards(await api("GET", "/private-cards"));
    } catch {
      // a bad host id, or not now: the panel still works for scheduling
    }
  }

  function showCards(cards) {
    const line = (k) => {
      const c = cards[k]?.applies;
      const from = c && cards[k].room ? "this room" : "all rooms";
      return c ? `${k}: “${c.message}” (${from})` : `${k}: none`;
    };
    current.textContent = `${line("invite")} · ${line("service")}`;
  }

  function showFollowers(n) {
    followers.textContent = `${n} follower${n === 1 ? "" : "s"}`;
  }

  function showBooking(b) {
    bookings.textContent = b ? `${b.title} · ${b.state} · ${b.bookings} booked` : "No live scheduled.";
  }
}

// Private traffic (私域) on the viewer page: follow the host (with the follower count), the
// booking button while the room's next live is scheduled and not started, and the private
// cards this viewer alone receives: the community invite after a follow, the customer-service
// contact after a paid order. See docs/private-traffic.md.

import { el, toast } from "./demo.js";

const ERRORS = {
  login_required: "Sign in to follow the host or book a live.",
  bad_host: "This room's host cannot be followed.",
  not_scheduled: "No upcoming live to book here.",
  room_live: "The live has started — you are in!",
  room_ended: "This live is over; watch for the next one.",
  unavailable: "The room is busy; try again in a moment.",
};

const CARD_TITLES = { invite: "Join the host's community", service: "Customer service" };

export function mountPrivate(ctx) {
  const { live } = ctx;
  const css = el("link", { rel: "stylesheet", href: "panel-private.css" });
  document.head.append(css);

  const mine = { following: false, booked: false };
  let followers = null;
  let booking = null;

  const count = el("span", { class: "followers-line", "data-testid": "followers", hidden: true });
  const follow = el("button", { class: "follow-btn", type: "button", "data-testid": "follow", hidden: true, text: "+ Follow" });
  const chip = document.querySelector(".host-chip");
  chip.querySelector(".host-sub").append(count);
  chip.append(follow);

  const what = el("div", { class: "what" });
  const book = el("button", { type: "button", "data-testid": "book", text: "Book" });
  const banner = el("div", { class: "booking-banner", "data-testid": "booking", hidden: true }, [el("strong", { text: "Upcoming" }), what, book]);
  const body = el("div", { class: "private-card-body" });
  const sheet = el("section", { class: "sheet", id: "private-sheet", hidden: true, "data-testid": "private-sheet", "aria-label": "Card" }, [
    el("div", { class: "sheet-grip" }),
    body,
    el("button", { class: "sheet-close", type: "button", text: "Close", onclick: () => ctx.sheets.close() }),
  ]);
  const room = document.getElementById("room");
  room.append(banner, sheet);

  live.on("snapshot", (snap) => {
    if (!("followers" in snap)) return; // the server has no private-traffic feature
    followers = snap.followers;
    booking = snap.booking;
    render();
  });
  live.on("private_mine", (ev) => {
    mine.following = ev.following;
    mine.booked = ev.booked;
    render();
  });
  live.on("followers", (ev) => {
    followers = ev.count;
    render();
  });
  live.on("booking", (ev) => {
    booking = ev.booking;
    render();
  });
  live.on("room", (ev) => {
    // settings stored and not ended: the room is live, bookings are closed
    if (booking && ev.room && !ev.room.ended) booking = { ...booking, state: "started" };
    render();
  });
  live.on("invite_card", (ev) => showCard("invite", ev.card));
  live.on("service_card", (ev) => showCard("service", ev.card));

  follow.addEventListener("click", async () => {
    const type = mine.following ? "unfollow" : "follow";
    try {
      const answer = await live.send(type);
      mine.following = answer.following;
      followers = answer.followers;
      if (answer.following && answer.new) toast("You follow the host now", "ok");
    } catch (err) {
      toast(ERRORS[err.code] || err.message, "bad");
    }
    render();
  });

  book.addEventListener("click", async () => {
    try {
      const answer = await live.send("book");
      mine.booked = true;
      if (booking) booking = { ...booking, bookings: answer.bookings };
      toast("Booked: you will be told when it starts", "ok");
    } catch (err) {
      toast(ERRORS[err.code] || err.message, "bad");
    }
    render();
  });

  function showCard(kind, card) {
    if (!card) return;
    const parts = [el("h2", { text: CARD_TITLES[kind] }), el("p", { "data-testid": `${kind}-message`, text: card.message })];
    if (card.image) parts.push(el("img", { src: card.image, alt: "QR code", "data-testid": `${kind}-image` }));
    if (card.link) parts.push(el("a", { href: card.link, target: "_blank", rel: "noopener", "data-testid": `${kind}-link`, text: kind === "invite" ? "Join" : "Contact us" }));
    body.replaceChildren(el("div", { class: "private-card", "data-testid": `${kind}-card` }, parts));
    ctx.sheets.open("private-sheet");
  }

  function render() {
    if (followers === null) return;
    count.hidden = false;
    count.textContent = `${followers} follower${followers === 1 ? "" : "s"}`;
    follow.hidden = false;
    follow.textContent = mine.following ? "Following" : "+ Follow";
    follow.classList.toggle("on", mine.following);
    const open = booking && booking.state === "open";
    banner.hidden = !open;
    if (!open) return;
    const when = booking.starts ? ` · ${new Date(booking.starts * 1000).toLocaleString()}` : "";
    what.textContent = `${booking.title}${when} · ${booking.bookings} booked`;
    book.disabled = mine.booked;
    book.textContent = mine.booked ? "Booked ✓" : "Book";
  }
}

// Lucky bags (福袋): the badge with its countdown, the rules, joining (tap or keyword comment),
// the participant count and the result, with the seed so anyone can check the draw.

import { clock, el, toast, yuan } from "./demo.js";

const JOIN_ERRORS = {
  not_started: "The lucky bag has not opened yet.",
  ended: "Joining is closed: the countdown is over.",
  limit_reached: "You have won enough lucky bags today.",
  read_only: "Sign in to join.",
  muted: "You are muted, so you cannot join by comment.",
};

export function mountBag(ctx) {
  const { live } = ctx;
  const badge = document.getElementById("bag-badge");
  const countdown = document.getElementById("bag-countdown");
  const body = document.getElementById("bag-body");
  let bag = null;
  let skew = 0; // server clock minus ours, in seconds
  let mine = { joined: false, won: null };
  let hideTimer = null;

  function serverNow() {
    return Date.now() / 1000 + skew;
  }

  function take(view, { announce = false } = {}) {
    if (!view) return;
    if (typeof view.left_s === "number" && typeof view.deadline === "number") {
      skew = view.deadline - view.left_s - Date.now() / 1000;
    }
    if (!bag || bag.id !== view.id) mine = { joined: false, won: null };
    bag = view;
    if (view.state === "drawn") {
      const me = ctx.me.id;
      if (mine.won === null) mine.won = (view.winner_list || []).some((w) => w.id === me);
      if (announce) {
        const names = (view.winner_list || []).map((w) => w.name).join("、") || "nobody";
        ctx.notice(`🎁 Lucky bag drawn — ${view.prize}: ${names}`);
        if (mine.won) toast(`🎉 You won ${view.prize}!`, "ok", 5000);
      }
      clearTimeout(hideTimer);
      hideTimer = setTimeout(() => {
        if (bag?.state === "drawn" && !ctx.sheets.isOpen("bag-sheet")) badge.hidden = true;
      }, 60_000);
    }
    render();
  }

  live.on("snapshot", (snap) => {
    if (!("bag" in snap)) return;
    bag = null;
    if (snap.bag) take(snap.bag);
    else render();
  });
  live.on("bag", (ev) => {
    const fresh = ev.bag && ev.bag.state === "open" && bag?.id !== ev.bag.id;
    take(ev.bag);
    if (fresh) ctx.notice(`🎁 Lucky bag! ${ev.bag.prize} — ${ev.bag.join === "keyword" ? `comment “${ev.bag.keyword}” to join` : "tap the bag to join"}`);
  });
  live.on("bag_drawn", (ev) => take(ev.bag, { announce: true }));
  live.on("bag_count", (ev) => {
    if (bag && ev.bag === bag.id) {
      bag = { ...bag, count: ev.count };
      render();
    }
  });
  live.on("bag_mine", (ev) => {
    if (!bag || ev.bag !== bag.id) return;
    if (ev.error) toast(JOIN_ERRORS[ev.error.code] || ev.error.message, "bad");
    if (ev.joined) mine.joined = true;
    if (typeof ev.won === "boolean") mine.won = ev.won;
    if (typeof ev.count === "number") bag = { ...bag, count: ev.count };
    render();
  });
  live.on("bag_won", (ev) => {
    if (bag && ev.bag === bag.id) mine.won = true;
    render();
  });

  badge.addEventListener("click", () => {
    render();
    ctx.sheets.open("bag-sheet");
  });

  async function join() {
    try {
      const answer = await live.send("bag_join", { bag: bag.id });
      mine.joined = true;
      bag = { ...bag, count: answer.count };
    } catch (err) {
      toast(JOIN_ERRORS[err.code] || err.message, "bad");
    }
    render();
  }

  async function sayKeyword() {
    try {
      await live.send("comment", { text: bag.keyword });
    } catch (err) {
      toast(JOIN_ERRORS[err.code] || err.message, "bad");
    }
  }

  // One ticking clock for the badge and the sheet.
  setInterval(tick, 250);
  function tick() {
    if (!bag || bag.state !== "open") return;
    const left = bag.deadline - serverNow();
    countdown.textContent = left > 0 ? clock(left) : "drawing";
    const big = document.getElementById("bag-big-time");
    if (big) big.textContent = left > 0 ? clock(left) : "Drawing…";
  }

  function render() {
    const visible = bag && ["open", "drawing", "drawn"].includes(bag.state);
    badge.hidden = !visible;
    if (!visible) {
      if (ctx.sheets.isOpen("bag-sheet")) ctx.sheets.close();
      return;
    }
    if (bag.state === "open") tick();
    else countdown.textContent = bag.state === "drawn" ? "drawn" : "drawing";
    body.replaceChildren(...sheetContent());
  }

  function sheetContent() {
    const rules = el("ul", { class: "rules", "data-testid": "bag-rules" }, [
      rule("Prize", bag.prize),
      rule("Value", `¥${yuan(bag.value_fen)}`),
      rule("Winners", String(bag.winners)),
      rule("How to join", bag.join === "keyword" ? `Comment “${bag.keyword}”` : "Tap Join"),
      bag.must_stay ? rule("Condition", "Stay in the room until the draw") : null,
      rule("Joined so far", String(bag.count ?? 0)),
    ]);
    const parts = [];
    if (bag.state === "open") {
      parts.push(el("div", { class: "big-time", id: "bag-big-time", text: "" }), rules);
      if (mine.joined) {
        parts.push(el("div", { class: "answer ok", "data-testid": "bag-status", text: "You're in ✓ Good luck! Results come when the countdown ends." }));
      } else if (bag.join === "keyword") {
        parts.push(el("button", { class: "primary", type: "button", "data-testid": "bag-join", text: `Comment “${bag.keyword}” to join`, onclick: sayKeyword }));
      } else {
        parts.push(el("button", { class: "primary", type: "button", "data-testid": "bag-join", text: "Join the draw", onclick: join }));
      }
    } else if (bag.state === "drawing") {
      parts.push(el("div", { class: "answer wait", "data-testid": "bag-result", text: "Drawing the winners…" }), rules);
    } else {
      const winners = bag.winner_list || [];
      parts.push(
        el(
          "div",
          { class: `answer ${mine.won ? "ok" : "bad"}`, "data-testid": "bag-result" },
          mine.won
            ? [el("strong", { text: "🎉 You won! " }), `${bag.prize} is yours — the shop will contact you.`]
            : [el("strong", { text: mine.joined ? "Not this time. " : "The draw is over. " }), "Thanks for joining — more bags are coming."],
        ),
        el("p", { class: "winners", "data-testid": "bag-winners" }, [
          el("strong", { text: `Winners (${winners.length}): ` }),
          winners.map((w) => w.name).join("、") || "none",
        ]),
        rules,
        el("p", { class: "winners", text: `Fair draw: seed ${bag.seed || "?"} — its hash ${shortHash(bag.seed_hash)} was published when the bag opened.` }),
      );
    }
    return parts;
  }
}

function rule(name, value) {
  return el("li", {}, [el("span", { text: name }), el("span", { text: value })]);
}

function shortHash(hash) {
  return hash ? `${hash.slice(0, 12)}…` : "?";
}

// The client against a real server (`python -m liveroom serve`, memory engine), over the `ws`
// package as its WebSocket: join, comments, resume across a gap, a reset snapshot, a flash-sale
// buy, and refusals (their error event, and the retry policy of their close code).

import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, test } from "node:test";

import WebSocket from "ws";

import { LiveRoom, LiveRoomError } from "../../src/liveroom.js";
import { scaled, startServer } from "./server.js";

const HISTORY_LEN = 20;
const SHOP = "http://shop.test";

let server;
let rooms = 0;
const clients = [];

before(async () => {
  server = await startServer({
    LIVEROOM_HISTORY_LEN: String(HISTORY_LEN),
    LIVEROOM_ALLOWED_ORIGINS: SHOP,
    LIVEROOM_USER_COMMENT_LIMIT: "1000",
    LIVEROOM_ROOM_COMMENT_CAP: "1000",
  });
});

after(async () => {
  for (const live of clients) live.close();
  await server?.stop();
});

function newRoom() {
  rooms += 1;
  return `js${rooms}`;
}

/** A `ws` WebSocket class that lists the sockets it made (and sends `options`, such as an origin). */
function tracked(options = {}) {
  const sockets = [];
  class Tracked extends WebSocket {
    constructor(url) {
      super(url, options);
      sockets.push(this);
    }
  }
  return { sockets, WebSocket: Tracked };
}

function client(room, token, { WebSocket: Impl = WebSocket, ...options } = {}) {
  const live = new LiveRoom({ url: server.ws, room, token, WebSocket: Impl, requestTimeoutMs: scaled(5000), ...options });
  clients.push(live);
  return live;
}

/** The next event of `type` matching `match`, or a rejection after the (scaled) deadline. */
function next(live, type, match = () => true, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${type} event in ${scaled(ms)} ms`));
    }, scaled(ms));
    const off = live.on(type, (detail) => {
      if (!match(detail)) return;
      clearTimeout(timer);
      off();
      resolve(detail);
    });
  });
}

/** Connect and wait for the join's snapshot. */
async function joined(live) {
  const snapshot = next(live, "snapshot");
  live.connect();
  return snapshot;
}

/** A token function that can be held shut, so a reconnect waits until the test releases it. */
function gate(token) {
  let shut = Promise.resolve();
  let release = () => {};
  return {
    token: async () => {
      await shut;
      return token;
    },
    shut() {
      shut = new Promise((resolve) => {
        release = resolve;
      });
    },
    open: () => release(),
  };
}

/** Drop the client's connection without a close frame (a network loss) and wait for the client to notice. */
async function loseConnection(live, sockets) {
  const noticed = next(live, "status", (s) => s.status === "reconnecting" && s.code === 1006);
  sockets.at(-1).terminate();
  await noticed;
}

test("join: welcome, then a snapshot of the room", async () => {
  const room = newRoom();
  const ann = client(room, server.token("ann", room, "host"));
  const snapshot = await joined(ann);
  assert.equal(ann.status, "open");
  assert.equal(ann.welcome.protocol, 1);
  assert.equal(ann.welcome.role, "host");
  assert.deepEqual(ann.welcome.user, { id: "ann", name: "ann" });
  assert.equal(snapshot.room.id, room);
  assert.ok(!snapshot.reset, "a fresh join is no reset");
  assert.equal(ann.offset, snapshot.offset);
});

test("a comment goes round: the reply's offset is the event every viewer gets", async () => {
  const room = newRoom();
  const ann = client(room, server.token("ann", room));
  const bob = client(room, server.token("bob", room));
  await joined(ann);
  await joined(bob);
  const seen = next(bob, "comment", (c) => c.text === "这个颜色有吗");
  const reply = await ann.send("comment", { text: "这个颜色有吗" });
  assert.equal(reply.ok, true);
  const comment = await seen;
  assert.equal(comment.offset, reply.offset);
  assert.deepEqual(comment.user, { id: "ann", name: "ann" });
  assert.equal(bob.offset, reply.offset);
});

test("a resume after a gap replays exactly the missed events, then resumed", async () => {
  const room = newRoom();
  const door = gate(server.token("ann", room));
  const net = tracked();
  const ann = client(room, door.token, { WebSocket: net.WebSocket });
  const bob = client(room, server.token("bob", room));
  await joined(ann);
  await joined(bob);
  const held = ann.offset;

  door.shut();
  await loseConnection(ann, net.sockets);
  const posted = [];
  for (const text of ["one", "two", "three"]) posted.push((await bob.send("comment", { text })).offset);

  const replayed = [];
  ann.on("comment", (c) => replayed.push([c.offset, c.text]));
  const resumed = next(ann, "resumed");
  let snapshots = 0;
  ann.on("snapshot", () => (snapshots += 1));
  door.open();
  const done = await resumed;

  const asked = new URL(net.sockets.at(-1).url).searchParams;
  assert.equal(asked.get("offset"), String(held));
  assert.equal(asked.get("epoch"), ann.epoch, "the epoch goes back with the offset");
  assert.equal(done.epoch, ann.epoch);
  assert.equal(done.missed, 3);
  assert.equal(done.offset, posted.at(-1));
  assert.deepEqual(replayed, [
    [posted[0], "one"],
    [posted[1], "two"],
    [posted[2], "three"],
  ]);
  assert.equal(snapshots, 0, "a resume history can serve is not a snapshot");
  assert.equal(ann.status, "open");
  assert.equal(ann.offset, posted.at(-1));
});

test("a resume from beyond the history gets a reset snapshot", async () => {
  const room = newRoom();
  const door = gate(server.token("ann", room));
  const net = tracked();
  const ann = client(room, door.token, { WebSocket: net.WebSocket });
  const bob = client(room, server.token("bob", room));
  await joined(ann);
  await joined(bob);

  door.shut();
  await loseConnection(ann, net.sockets);
  let last = null;
  for (let i = 0; i < HISTORY_LEN + 5; i += 1) last = await bob.send("comment", { text: `flood ${i}` });

  const reset = next(ann, "reset");
  const snapshot = next(ann, "snapshot");
  let resumed = 0;
  ann.on("resumed", () => (resumed += 1));
  door.open();
  const [snap, resetEvent] = await Promise.all([snapshot, reset]);

  assert.equal(snap, resetEvent, "the reset event carries the snapshot");
  assert.equal(snap.reset, true);
  assert.equal(snap.offset, last.offset);
  assert.equal(snap.comments.at(-1).text, `flood ${HISTORY_LEN + 4}`);
  assert.equal(ann.offset, last.offset);
  assert.equal(resumed, 0);
  const live = next(ann, "comment", (c) => c.text === "after the reset");
  await bob.send("comment", { text: "after the reset" });
  assert.equal((await live).offset, last.offset + 1);
});

test("a flash-sale buy reserves once per request id; the next buyer gets sold_out", async () => {
  const room = newRoom();
  const ann = client(room, server.token("ann", room));
  const bob = client(room, server.token("bob", room));
  await joined(ann);
  await joined(bob);
  const opened = next(ann, "sale", (e) => e.sale.id === "tea" && e.sale.status === "open");
  await server.api("POST", `/api/rooms/${room}/sales`, {
    id: "tea",
    sku: "tea-250g",
    title: "Spring tea 250 g",
    price: 1990,
    stock: 1,
    limit: 1,
    open: true,
  });
  assert.equal((await opened).sale.stock, 1);

  const soldOut = next(bob, "sold_out", (e) => e.sale.id === "tea");
  const buy = { sale: "tea", quantity: 1, request_id: "tap-1" };
  const order = await ann.send("buy", buy);
  assert.equal(order.ok, true);
  assert.equal(order.sale, "tea");
  assert.equal(typeof order.order, "string");
  const again = await ann.send("buy", buy);
  assert.equal(again.order, order.order, "a retry with the same request id gets the same order");
  assert.equal((await soldOut).sale.stock, 0);

  await assert.rejects(bob.send("buy", { ...buy, request_id: "tap-2" }), (err) => {
    assert.ok(err instanceof LiveRoomError);
    assert.equal(err.code, "sold_out");
    assert.equal(err.retry, false);
    return true;
  });
});

test("a refused token: the error event, close 4001, then a fresh token joins", async () => {
  const room = newRoom();
  const asked = [];
  const ann = client(room, ({ refresh }) => {
    asked.push(refresh);
    return refresh ? server.token("ann", room) : "not.a.token";
  });
  const order = [];
  ann.on("error", (e) => order.push(["error", e.code]));
  ann.on("status", (s) => s.code && order.push(["status", s.status, s.code]));
  const snapshot = await joined(ann);
  assert.deepEqual(order.slice(0, 2), [
    ["error", "unauthorized"],
    ["status", "reconnecting", 4001],
  ]);
  assert.deepEqual(asked, [false, true]);
  assert.equal(snapshot.room.id, room);
});

test("an origin the server does not allow: the error event, close 4004, no retry", async () => {
  const room = newRoom();
  const net = tracked({ origin: "http://elsewhere.test" });
  const ann = client(room, server.token("ann", room), { WebSocket: net.WebSocket });
  const error = next(ann, "error");
  const closed = next(ann, "status", (s) => s.status === "closed");
  ann.connect();
  assert.equal((await error).code, "forbidden");
  const status = await closed;
  assert.equal(status.code, 4004);
  assert.equal(status.error.message, "origin not allowed");
  assert.equal(net.sockets.length, 1);
  await assert.rejects(ann.send("ping"), { code: "closed" });

  const shop = tracked({ origin: SHOP });
  const fine = client(room, server.token("ann", room), { WebSocket: shop.WebSocket });
  assert.equal((await joined(fine)).room.id, room, "an allowed origin joins");
});

test("the refusal's error event comes in a text frame", async () => {
  const room = newRoom();
  const raw = new WebSocket(`${server.ws}?room=${room}&token=not.a.token`);
  const [data, isBinary] = await Promise.race([
    once(raw, "message"),
    new Promise((_, reject) => setTimeout(() => reject(new Error("no frame")), scaled(5000)).unref()),
  ]);
  assert.equal(isBinary, false, "a browser's JSON.parse cannot read a binary frame");
  assert.equal(JSON.parse(data.toString())[0].type, "error");
  const [code] = await once(raw, "close");
  assert.equal(code, 4001);
});

test("a kick: the kicked event, close 4031, a wait until the kick ends, then a resume", async () => {
  const room = newRoom();
  const host = client(room, server.token("ann", room, "host"));
  const bob = client(room, server.token("bob", room), { backoffBaseMs: 50 });
  await joined(host);
  await joined(bob);
  const kicked = next(bob, "kicked");
  const waiting = next(bob, "status", (s) => s.status === "reconnecting" && s.code === 4031);
  const reply = await host.send("kick", { user: "bob", seconds: 2 });
  assert.equal(reply.ok, true);
  assert.equal((await kicked).until, reply.until);
  const status = await waiting;
  assert.ok(status.delay >= 2000, `waits for the kick to end, not ${status.delay} ms`);
  const back = await next(bob, "resumed", () => true, 10000);
  assert.ok(Date.now() / 1000 >= reply.until - 0.05, "back only once the kick ended");
  assert.equal(back.offset, bob.offset);
});

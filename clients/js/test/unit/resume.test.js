// Offsets: the client passes back the newest offset it holds, replays and resets are told apart,
// and room events it already holds are never emitted twice.

import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import { fakeRoom } from "./fake.js";

beforeEach((t) => t.mock.timers.enable({ apis: ["setTimeout", "setInterval"] }));

/** Connect, join at `offset`, then drop the connection and let the retry timer fire. */
function reconnectAfter(t, room, code = 1006) {
  room.server.last.drop(code);
  t.mock.timers.tick(1000);
  return room.server.last;
}

test("the first connection asks for no offset", () => {
  const { live, server } = fakeRoom();
  live.connect();
  assert.equal(server.sockets.length, 1);
  assert.equal(server.last.offset, null);
  assert.equal(server.last.url.searchParams.get("room"), "r1");
  assert.equal(server.last.token, "t0");
});

test("the source option is sent as src on every connection; none by default", (t) => {
  const room = fakeRoom({ source: "share" });
  room.live.connect();
  assert.equal(room.server.last.url.searchParams.get("src"), "share");
  room.server.last.join(1);
  assert.equal(reconnectAfter(t, room).url.searchParams.get("src"), "share");
  const plain = fakeRoom();
  plain.live.connect();
  assert.equal(plain.server.last.url.searchParams.has("src"), false);
});

test("the offset option resumes from a saved offset on the first connection", () => {
  const { live, server } = fakeRoom({ offset: 77 });
  live.connect();
  assert.equal(server.last.offset, "77");
});

test("a reconnect passes back the newest offset seen", (t) => {
  const room = fakeRoom();
  room.live.connect();
  room.server.last.join(10);
  room.server.last.frame({ type: "comment", offset: 11, text: "a" }, { type: "comment", offset: 12, text: "b" });
  room.server.last.frame({ type: "stats", online: 3, likes: 0 });
  assert.equal(room.live.offset, 12);
  const second = reconnectAfter(t, room);
  assert.equal(room.server.sockets.length, 2);
  assert.equal(second.offset, "12");
});

test("missed events are emitted in order, then resumed, then live events", (t) => {
  const room = fakeRoom();
  room.live.connect();
  room.server.last.join(5);
  const second = reconnectAfter(t, room);
  second.frame({ type: "welcome", protocol: 1 });
  second.frame({ type: "comment", offset: 6, text: "missed 1" }, { type: "comment", offset: 7, text: "missed 2" });
  second.frame({ type: "resumed", offset: 7, missed: 2 });
  second.frame({ type: "comment", offset: 8, text: "live" });
  assert.deepEqual(
    room.of("comment").map((c) => c.text),
    ["missed 1", "missed 2", "live"],
  );
  assert.deepEqual(room.of("resumed"), [{ type: "resumed", offset: 7, missed: 2 }]);
  assert.equal(room.live.status, "open");
  assert.equal(room.live.offset, 8);
  assert.equal(room.of("snapshot").length, 1, "a resume is not a snapshot");
  assert.equal(room.of("reset").length, 0);
});

test("a reset snapshot emits snapshot then reset and takes the snapshot's offset", (t) => {
  const room = fakeRoom();
  room.live.connect();
  room.server.last.join(500);
  const second = reconnectAfter(t, room);
  assert.equal(second.offset, "500");
  // The room restarted (memory engine, say): its offsets are now below ours.
  second.join(40, { reset: true });
  const order = room.events.map(([type]) => type).filter((type) => type === "snapshot" || type === "reset");
  assert.deepEqual(order, ["snapshot", "snapshot", "reset"]);
  assert.equal(room.of("reset")[0].offset, 40);
  assert.equal(room.live.offset, 40);
  second.frame({ type: "comment", offset: 41, text: "after the reset" });
  assert.deepEqual(
    room.of("comment").map((c) => c.text),
    ["after the reset"],
    "events after a lower reset offset are not taken for duplicates",
  );
});

test("room events at or below the held offset are dropped", () => {
  const room = fakeRoom();
  room.live.connect();
  room.server.last.join(10);
  room.server.last.frame(
    { type: "comment", offset: 9, text: "old" },
    { type: "comment", offset: 10, text: "in the snapshot" },
    { type: "comment", offset: 11, text: "new" },
    { type: "comment", offset: 11, text: "new again" },
  );
  assert.deepEqual(
    room.of("comment").map((c) => c.text),
    ["new"],
  );
  assert.equal(room.of("event").filter((e) => e.type === "comment").length, 1);
});

test("events without an offset are always emitted", () => {
  const room = fakeRoom();
  room.live.connect();
  room.server.last.join(10);
  room.server.last.frame({ type: "stats", online: 1 }, { type: "stats", online: 2 });
  room.server.last.frame({ type: "comment", self: true, shed: true, text: "mine" });
  assert.deepEqual(
    room.of("stats").map((s) => s.online),
    [1, 2],
  );
  assert.equal(room.of("comment").length, 1);
  assert.equal(room.live.offset, 10);
});

test("skipped advances the offset past the comments left out", (t) => {
  const room = fakeRoom();
  room.live.connect();
  room.server.last.join(10);
  room.server.last.frame({ type: "skipped", from: 11, to: 30, count: 20 });
  assert.equal(room.live.offset, 30);
  assert.equal(reconnectAfter(t, room).offset, "30");
});

test("resync closes the connection and resumes from the held offset", (t) => {
  const room = fakeRoom();
  room.live.connect();
  const first = room.server.last;
  first.join(10);
  first.frame({ type: "comment", offset: 11 });
  first.frame({ type: "resync", offset: 15, epoch: "e1" });
  assert.deepEqual(first.closedWith, { code: 1000, reason: "resync" });
  first.drop(1000);
  t.mock.timers.tick(100); // within backoffBaseMs: a first retry
  assert.equal(room.server.sockets.length, 2);
  assert.equal(room.server.last.offset, "11");
  assert.equal(room.server.last.epoch, "e1");
});

test("a reconnect passes back the epoch of the held offset", (t) => {
  const room = fakeRoom();
  room.live.connect();
  room.server.last.join(10, { epoch: "abc123" });
  room.server.last.frame({ type: "comment", offset: 11, text: "a" });
  assert.equal(room.live.epoch, "abc123");
  const second = reconnectAfter(t, room);
  assert.equal(second.offset, "11");
  assert.equal(second.epoch, "abc123");
  second.frame({ type: "welcome", protocol: 1 });
  second.frame({ type: "resumed", offset: 11, missed: 0, epoch: "abc123" });
  assert.equal(room.live.epoch, "abc123");
});

test("the offset and epoch options resume from a saved position", () => {
  const { live, server } = fakeRoom({ offset: 77, epoch: "saved" });
  live.connect();
  assert.equal(server.last.offset, "77");
  assert.equal(server.last.epoch, "saved");
});

test("a reset snapshot of a new epoch is adopted, offsets below the old ones included", (t) => {
  const room = fakeRoom();
  room.live.connect();
  room.server.last.join(500, { epoch: "old" });
  const second = reconnectAfter(t, room);
  assert.equal(second.epoch, "old");
  // The room's history started afresh (a Redis that lost it): a new epoch, lower offsets.
  second.join(3, { reset: true, epoch: "new" });
  assert.equal(room.live.offset, 3);
  assert.equal(room.live.epoch, "new");
  second.frame({ type: "comment", offset: 4, text: "in the new epoch" });
  assert.deepEqual(
    room.of("comment").map((c) => c.text),
    ["in the new epoch"],
  );
  const third = reconnectAfter(t, room);
  assert.equal(third.offset, "4");
  assert.equal(third.epoch, "new");
});

test("nothing after a resync is taken: the reconnect asks with the position held before it", (t) => {
  const room = fakeRoom();
  room.live.connect();
  const first = room.server.last;
  first.join(50, { epoch: "old" });
  // The node moved to a new epoch; its events continue after offset 60 on this connection.
  first.frame({ type: "resync", offset: 60, epoch: "new" }, { type: "comment", offset: 61, text: "x" });
  first.frame({ type: "comment", offset: 62, text: "y" });
  assert.equal(room.of("comment").length, 0, "events after the resync are stale for this client");
  assert.equal(room.live.offset, 50);
  assert.equal(room.live.epoch, "old");
  first.drop(1000);
  t.mock.timers.tick(100);
  assert.equal(room.server.last.offset, "50");
  assert.equal(room.server.last.epoch, "old");
});

test("a binary frame is read as UTF-8 JSON", () => {
  const room = fakeRoom();
  room.live.connect();
  room.server.last.join(1);
  const bytes = new TextEncoder().encode(JSON.stringify([{ type: "comment", offset: 2, text: "好看" }]));
  room.server.last.onmessage({ data: bytes.buffer });
  assert.deepEqual(
    room.of("comment").map((c) => c.text),
    ["好看"],
  );
});

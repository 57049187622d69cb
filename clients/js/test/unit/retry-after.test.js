// A refusal's retry_after: a floor under the reconnect delay (1013 "try again later", and 4031
// kicked), read from the error event or the close reason; a kick too long stops the client.

import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import { CloseCode, retryAfterMs } from "../../src/liveroom.js";
import { fakeRoom } from "./fake.js";

beforeEach((t) => t.mock.timers.enable({ apis: ["setTimeout", "setInterval"] }));

/** Refuse the newest connection the way the server does: an error event, then the close. */
function refuse(room, code, retryAfter, { inEvent = true } = {}) {
  const socket = room.server.last;
  const error = { type: "error", code: "rate_limited", message: "server busy; try again later" };
  if (inEvent) error.retry_after = retryAfter;
  socket.frame(error);
  socket.drop(code, `server busy; try again later; retry_after=${retryAfter}`);
}

test("retryAfterMs reads the error event first, then the close reason", () => {
  assert.equal(retryAfterMs({ retry_after: 2.5 }, "x; retry_after=9"), 2500);
  assert.equal(retryAfterMs(null, "server busy; try again later; retry_after=1.25"), 1250);
  assert.equal(retryAfterMs({ code: "forbidden" }, "origin not allowed"), 0);
  assert.equal(retryAfterMs(undefined), 0);
});

test("after 1013 the client waits at least retry_after, then resumes with its offset", (t) => {
  const room = fakeRoom({ random: () => 0.5, backoffBaseMs: 100, backoffMaxMs: 1000 });
  room.live.connect();
  room.server.last.join(12);
  room.server.last.drop(1012); // the node restarts: the client comes back at once...
  t.mock.timers.tick(room.of("status").at(-1).delay);
  assert.equal(room.server.sockets.length, 2);
  refuse(room, CloseCode.TRY_AGAIN_LATER, 2.5); // ...and the new node is busy
  const status = room.of("status").at(-1);
  assert.equal(status.status, "reconnecting");
  assert.equal(status.code, 1013);
  assert.equal(status.delay, 2500, "the floor, not the backoff's 100 ms");
  t.mock.timers.tick(2499);
  assert.equal(room.server.sockets.length, 2, "not a millisecond early");
  t.mock.timers.tick(1);
  assert.equal(room.server.sockets.length, 3);
  assert.equal(room.server.last.offset, "12");
});

test("retry_after in the close reason alone is honoured too", (t) => {
  const room = fakeRoom({ random: () => 0.5, backoffBaseMs: 100, backoffMaxMs: 1000 });
  room.live.connect();
  refuse(room, CloseCode.TRY_AGAIN_LATER, 1.75, { inEvent: false });
  assert.equal(room.of("status").at(-1).delay, 1750);
  t.mock.timers.tick(1749);
  assert.equal(room.server.sockets.length, 1);
  t.mock.timers.tick(1);
  assert.equal(room.server.sockets.length, 2);
});

test("a retry_after shorter than the backoff's jitter does not shorten it", (t) => {
  const room = fakeRoom({ random: () => 0.9, backoffBaseMs: 1000, backoffMaxMs: 10000 });
  room.live.connect();
  refuse(room, CloseCode.TRY_AGAIN_LATER, 0.2);
  assert.equal(room.of("status").at(-1).delay, 900);
});

test("a kicked client waits until the kick ends, then resumes with its offset", (t) => {
  const room = fakeRoom();
  room.live.connect();
  room.server.last.join(30);
  room.server.last.frame({ type: "kicked", until: 1e9, retry_after: 5 });
  room.server.last.drop(CloseCode.KICKED, "kicked");
  assert.equal(room.of("kicked").length, 1);
  const status = room.of("status").at(-1);
  assert.equal(status.status, "reconnecting");
  assert.equal(status.delay, 5000, "the kicked event's retry_after");
  t.mock.timers.tick(4999);
  assert.equal(room.server.sockets.length, 1);
  t.mock.timers.tick(1);
  assert.equal(room.server.sockets.length, 2);
  // still kicked (a clock a little off): refused at the handshake with the time left
  const socket = room.server.last;
  socket.frame({ type: "error", code: "forbidden", message: "kicked", retry_after: 0.3 });
  socket.drop(CloseCode.KICKED, "kicked; retry_after=0.3");
  assert.equal(room.of("status").at(-1).delay, 300);
  t.mock.timers.tick(300);
  assert.equal(room.server.sockets.length, 3);
  assert.equal(room.server.last.offset, "30");
});

test("a kick longer than kickWaitMaxMs stops the client for good", (t) => {
  const room = fakeRoom({ kickWaitMaxMs: 60000 });
  room.live.connect();
  const socket = room.server.last;
  socket.frame({ type: "error", code: "forbidden", message: "kicked", retry_after: 3600 });
  socket.drop(CloseCode.KICKED, "kicked; retry_after=3600");
  const status = room.of("status").at(-1);
  assert.equal(status.status, "closed");
  assert.equal(status.code, 4031);
  assert.equal(status.error.retry_after, 3600);
  t.mock.timers.tick(4000000);
  assert.equal(room.server.sockets.length, 1, "no reconnect");
});

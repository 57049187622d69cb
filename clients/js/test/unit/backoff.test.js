// Reconnect backoff: the ceiling doubles per failed attempt up to the maximum, and the delay is
// drawn from the whole window below it (full jitter).

import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import { fakeRoom } from "./fake.js";

beforeEach((t) => t.mock.timers.enable({ apis: ["setTimeout", "setInterval"] }));

/** Fail `times` connection attempts in a row; the delays the client announced. */
function failAttempts(t, room, times) {
  for (let i = 0; i < times; i += 1) {
    room.server.last.drop(1006);
    t.mock.timers.tick(room.of("status").at(-1).delay);
  }
  return room.of("status").filter((s) => s.status === "reconnecting" && "delay" in s);
}

test("the ceiling doubles per attempt up to the maximum", (t) => {
  const room = fakeRoom({ random: () => 0.5, backoffBaseMs: 100, backoffMaxMs: 1000 });
  room.live.connect();
  const retries = failAttempts(t, room, 6);
  assert.deepEqual(
    retries.map((s) => s.delay),
    [50, 100, 200, 400, 500, 500],
  );
  assert.deepEqual(
    retries.map((s) => s.attempt),
    [1, 2, 3, 4, 5, 6],
  );
  assert.equal(room.server.sockets.length, 7);
});

test("full jitter: the delay spans the whole window, from zero to the ceiling", (t) => {
  const low = fakeRoom({ random: () => 0, backoffBaseMs: 100, backoffMaxMs: 1000 });
  low.live.connect();
  assert.deepEqual(
    failAttempts(t, low, 3).map((s) => s.delay),
    [0, 0, 0],
  );
  const high = fakeRoom({ random: () => 0.999, backoffBaseMs: 100, backoffMaxMs: 1000 });
  high.live.connect();
  assert.deepEqual(
    failAttempts(t, high, 3).map((s) => Math.round(s.delay)),
    [100, 200, 400],
  );
});

test("the reconnect waits for its delay, not less", (t) => {
  const room = fakeRoom({ random: () => 0.25, backoffBaseMs: 400, backoffMaxMs: 1000 });
  room.live.connect();
  room.server.last.drop(1006);
  assert.equal(room.of("status").at(-1).delay, 100);
  t.mock.timers.tick(99);
  assert.equal(room.server.sockets.length, 1);
  t.mock.timers.tick(1);
  assert.equal(room.server.sockets.length, 2);
});

test("a successful join starts the backoff over", (t) => {
  const room = fakeRoom({ random: () => 0.5, backoffBaseMs: 100, backoffMaxMs: 1000 });
  room.live.connect();
  failAttempts(t, room, 3);
  assert.equal(room.live.attempt, 3);
  room.server.last.join(1);
  assert.equal(room.live.attempt, 0);
  room.server.last.drop(1012);
  assert.equal(room.of("status").at(-1).delay, 50, "after a restart the first retry comes quickly");
});

test("close() during the backoff cancels the reconnect", (t) => {
  const room = fakeRoom();
  room.live.connect();
  room.server.last.drop(1006);
  room.live.close();
  t.mock.timers.tick(60000);
  assert.equal(room.server.sockets.length, 1);
  assert.equal(room.live.status, "closed");
});

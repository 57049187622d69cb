// Close codes: which ones stop the client, which ones ask for a new token, which ones retry.

import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import { CloseCode, FATAL, LiveRoomError, NEEDS_TOKEN } from "../../src/liveroom.js";
import { fakeRoom, settle } from "./fake.js";

beforeEach((t) => t.mock.timers.enable({ apis: ["setTimeout", "setInterval"] }));

const DO_NOT_RETRY = [
  [4000, "bad request"],
  [4003, "wrong room"],
  [4004, "origin not allowed"],
  [4010, "room ended"],
];

for (const [code, name] of DO_NOT_RETRY) {
  test(`close ${code} (${name}) stops the client for good`, async (t) => {
    const room = fakeRoom();
    room.live.connect();
    room.server.last.join(3);
    const pending = room.live.send("comment", { text: "queued" }, { timeoutMs: 60000 });
    room.server.last.drop(1006); // the command was sent: it fails as disconnected
    await assert.rejects(pending, { code: "disconnected" });
    t.mock.timers.tick(1000);
    const waiting = room.live.send("comment", { text: "waits for the reconnect" }, { timeoutMs: 60000 });
    room.server.last.drop(code);
    assert.equal(room.live.status, "closed");
    assert.equal(room.of("status").at(-1).code, code);
    await assert.rejects(waiting, (err) => err instanceof LiveRoomError && err.code === "closed");
    t.mock.timers.tick(60000);
    assert.equal(room.server.sockets.length, 2, "no reconnect after a code that a retry cannot fix");
    await assert.rejects(room.live.send("ping"), { code: "closed" });
  });
}

test("a refusal's error event is emitted and names the reason in the closed status", () => {
  const room = fakeRoom();
  room.live.connect();
  room.server.last.frame({ type: "error", code: "forbidden", message: "origin not allowed" });
  room.server.last.drop(4004, "origin not allowed");
  assert.deepEqual(room.of("error"), [{ type: "error", code: "forbidden", message: "origin not allowed" }]);
  const closed = room.of("status").at(-1);
  assert.equal(closed.status, "closed");
  assert.equal(closed.error.code, "forbidden");
});

for (const code of [4001, 4011]) {
  test(`close ${code} asks the token function for a fresh token before retrying`, async (t) => {
    const calls = [];
    const room = fakeRoom({
      token: ({ refresh }) => {
        calls.push(refresh);
        return `t${calls.length}`;
      },
    });
    room.live.connect();
    await settle();
    room.server.last.join(8);
    room.server.last.frame({ type: "error", code: "unauthorized", message: "token expired" });
    room.server.last.drop(code);
    assert.equal(room.live.status, "reconnecting");
    assert.equal(room.of("error").length, 1);
    t.mock.timers.tick(1000);
    await settle();
    assert.deepEqual(calls, [false, true]);
    assert.equal(room.server.last.token, "t2");
    assert.equal(room.server.last.offset, "8", "a new token keeps the resume offset");
    room.server.last.join(8);
    room.server.last.drop(1006);
    t.mock.timers.tick(1000);
    await settle();
    assert.deepEqual(calls, [false, true, false], "an accepted token is not refreshed again");
  });
}

for (const code of [1000, 1006, 1009, 1011, 1012, 4008, 4029, 4030]) {
  test(`close ${code} reconnects with the same token`, async (t) => {
    const calls = [];
    const room = fakeRoom({ token: ({ refresh }) => calls.push(refresh) && "t" });
    room.live.connect();
    await settle();
    room.server.last.join(2);
    room.server.last.drop(code);
    assert.equal(room.live.status, "reconnecting");
    t.mock.timers.tick(1000);
    await settle();
    assert.equal(room.server.sockets.length, 2);
    assert.deepEqual(calls, [false, false]);
  });
}

test("a token function that throws is retried with backoff", async (t) => {
  let fail = true;
  const room = fakeRoom({
    token: async () => {
      if (fail) throw new Error("backend down");
      return "t";
    },
  });
  room.live.connect();
  await settle();
  assert.equal(room.server.sockets.length, 0);
  assert.match(room.of("status").at(-1).reason, /backend down/);
  fail = false;
  t.mock.timers.tick(1000);
  await settle();
  assert.equal(room.server.sockets.length, 1);
});

test("the policy sets hold the codes the protocol documents", () => {
  assert.equal(CloseCode.ORIGIN_NOT_ALLOWED, 4004);
  assert.equal(CloseCode.TOO_MANY_CONNECTIONS, 4030);
  assert.deepEqual([...FATAL].sort(), [4000, 4003, 4004, 4010]);
  assert.deepEqual([...NEEDS_TOKEN].sort(), [4001, 4011]);
});

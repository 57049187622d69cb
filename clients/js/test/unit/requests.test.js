// Requests: each command gets its reply by id, within a timeout, across reconnects.

import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import { LiveRoomError } from "../../src/liveroom.js";
import { fakeRoom, settle } from "./fake.js";

beforeEach((t) => t.mock.timers.enable({ apis: ["setTimeout", "setInterval"] }));

function openRoom(options) {
  const room = fakeRoom(options);
  room.live.connect();
  room.server.last.join(1);
  return room;
}

test("send resolves with the reply that carries its id", async () => {
  const { live, server } = openRoom();
  const answer = live.send("comment", { text: "hi" });
  const [command] = server.last.sent;
  assert.equal(command.type, "comment");
  assert.equal(command.text, "hi");
  assert.equal(typeof command.id, "string");
  server.last.frame({ type: "reply", id: "someone-else", ok: true });
  server.last.frame({ type: "reply", id: command.id, ok: true, offset: 2 });
  assert.deepEqual(await answer, { type: "reply", id: command.id, ok: true, offset: 2 });
});

test("a caller-chosen id goes out as the request id", async () => {
  const { live, server } = openRoom();
  const answer = live.send("buy", { sale: "s1", quantity: 1, request_id: "tap-1" }, { id: "tap-1" });
  assert.equal(server.last.sent[0].id, "tap-1");
  server.last.frame({ type: "reply", id: "tap-1", ok: true, order: "s1-1" });
  assert.equal((await answer).order, "s1-1");
});

test("a refusal rejects with the server's code, retry flag and details", async () => {
  const { live, server } = openRoom();
  const answer = live.send("packet_grab", { packet: "p1" });
  const { id } = server.last.sent[0];
  server.last.frame({
    type: "reply",
    id,
    ok: false,
    error: { code: "already_grabbed", message: "already grabbed", retry: false, amount: 88 },
  });
  await assert.rejects(answer, (err) => {
    assert.ok(err instanceof LiveRoomError);
    assert.equal(err.code, "already_grabbed");
    assert.equal(err.message, "already grabbed");
    assert.equal(err.retry, false);
    assert.equal(err.details.amount, 88);
    return true;
  });
});

test("no reply within the timeout rejects with timeout, not before", async (t) => {
  const { live } = openRoom({ requestTimeoutMs: 500 });
  let outcome = null;
  live.send("comment", { text: "lost" }).catch((err) => {
    outcome = err;
  });
  t.mock.timers.tick(499);
  await settle();
  assert.equal(outcome, null);
  t.mock.timers.tick(1);
  await settle();
  assert.equal(outcome?.code, "timeout");
  assert.equal(outcome.retry, true);
});

test("a late reply after the timeout is not taken for an error", async (t) => {
  const room = openRoom();
  const answer = room.live.send("ping", {}, { timeoutMs: 50 });
  const { id } = room.server.last.sent[0];
  t.mock.timers.tick(50);
  await assert.rejects(answer, { code: "timeout" });
  room.server.last.frame({ type: "reply", id, ok: true, ts: 1 });
  assert.equal(room.of("error").length, 0);
});

test("a sent command whose connection drops rejects with disconnected", async () => {
  const { live, server } = openRoom();
  const answer = live.send("like", { count: 1 });
  server.last.drop(1006);
  await assert.rejects(answer, (err) => err.code === "disconnected" && err.retry === true);
});

test("a command sent while reconnecting waits and goes out on the new connection", async (t) => {
  const { live, server } = openRoom();
  server.last.drop(1006);
  const answer = live.send("comment", { text: "later" });
  assert.equal(server.sockets[0].sent.length, 0);
  t.mock.timers.tick(1000);
  assert.equal(server.last.sent.length, 0, "not before the room is joined");
  server.last.join(1);
  const [command] = server.last.sent;
  assert.equal(command.text, "later");
  server.last.frame({ type: "reply", id: command.id, ok: true });
  assert.equal((await answer).ok, true);
});

test("close() rejects pending commands with closed", async () => {
  const { live, server } = openRoom();
  const answer = live.send("comment", { text: "bye" });
  live.close();
  await assert.rejects(answer, { code: "closed" });
  assert.deepEqual(server.last.closedWith, { code: 1000, reason: "bye" });
});

test("a refused reply that answers no request of ours is emitted as error", () => {
  const room = openRoom();
  room.server.last.frame({
    type: "reply",
    id: null,
    ok: false,
    error: { code: "bad_json", message: "not JSON", retry: false },
  });
  assert.deepEqual(room.of("error"), [{ code: "bad_json", message: "not JSON", retry: false }]);
});

test("a ping without an answer drops the connection and reconnects", async (t) => {
  const room = openRoom({ pingIntervalMs: 1000 });
  const first = room.server.last;
  t.mock.timers.tick(1000);
  assert.equal(first.commands("ping").length, 1);
  t.mock.timers.tick(1000);
  await settle();
  assert.deepEqual(first.closedWith, { code: 1000, reason: "ping timeout" });
  assert.equal(room.live.status, "reconnecting", "no waiting for a close handshake that cannot come");
  t.mock.timers.tick(1000);
  assert.equal(room.server.sockets.length, 2);
});

test("frames in an interval spare its ping; an interval with none pings", (t) => {
  const room = openRoom({ pingIntervalMs: 1000 });
  const first = room.server.last;
  for (let i = 1; i <= 3; i += 1) {
    t.mock.timers.tick(500);
    first.frame({ type: "stats", online: i, peak: i, likes: 0 });
    t.mock.timers.tick(500);
  }
  assert.equal(first.commands("ping").length, 0, "the room's frames show the connection is alive");
  t.mock.timers.tick(1000); // a whole interval with nothing
  assert.equal(first.commands("ping").length, 1);
  // its reply is not a sign of life of its own: the next quiet interval pings again
  first.frame({ type: "reply", id: first.commands("ping")[0].id, ok: true, ts: 1 });
  t.mock.timers.tick(1000);
  assert.equal(first.commands("ping").length, 2);
  assert.equal(first.closedWith, null);
});

test("an answered ping keeps the connection", (t) => {
  const room = openRoom({ pingIntervalMs: 1000 });
  const first = room.server.last;
  for (let i = 1; i <= 3; i += 1) {
    t.mock.timers.tick(1000);
    const ping = first.commands("ping").at(-1);
    first.frame({ type: "reply", id: ping.id, ok: true, ts: i });
  }
  assert.equal(first.commands("ping").length, 3);
  assert.equal(first.closedWith, null);
  assert.equal(room.live.status, "open");
});

// Compiled, never run (`npm run typecheck`): the declarations describe the API as the README
// shows it, in a browser page and in Node with the `ws` package. `@ts-expect-error` lines are
// misuses the declarations must refuse.

import WebSocket from "ws";

import {
  CloseCode,
  FATAL,
  LiveRoom,
  LiveRoomError,
  NEEDS_TOKEN,
  type CommentEvent,
  type Reply,
  type StatusDetail,
} from "liveroom-client";

// A browser page: the page's own WebSocket, a token from the shop's backend.
const page = new LiveRoom({
  room: "spring-sale",
  token: async ({ refresh }) => {
    const res = await fetch(`/my-backend/live-token${refresh ? "?fresh=1" : ""}`);
    return ((await res.json()) as { token: string }).token;
  },
  WebSocket: globalThis.WebSocket,
});

// Node: an injected implementation, a fixed token, every option.
const node = new LiveRoom({
  url: "ws://127.0.0.1:8000/ws",
  room: "demo",
  token: "eyJ...",
  offset: 41,
  source: "share",
  requestTimeoutMs: 5000,
  backoffBaseMs: 300,
  backoffMaxMs: 10000,
  pingIntervalMs: 0,
  WebSocket,
  random: Math.random,
});

const unsubscribe = page.on("comment", (comment: CommentEvent) => {
  const who: string = comment.user.name;
  const text: string = comment.text;
  const offset: number | undefined = comment.offset;
  void [who, text, offset];
});
unsubscribe();

page.on("snapshot", (snap) => {
  const offset: number = snap.offset;
  const epoch: string = snap.epoch;
  const reset: boolean | undefined = snap.reset;
  const online: number = snap.online;
  const first: string | undefined = snap.comments[0]?.text;
  void [offset, epoch, reset, online, first];
});
page.on("reset", (snap) => void snap.room.id);
page.on("resumed", ({ offset, missed, epoch }) => void [offset + missed, epoch.length]);
page.on("resync", ({ offset, epoch }) => void [offset, epoch.length]);
page.on("stats", ({ online, likes }) => void [online + likes]);
page.on("sale", ({ sale }) => void [sale.stock - sale.total]);
page.on("status", (s: StatusDetail) => {
  if (s.status === "closed" && s.code !== undefined && FATAL.has(s.code)) void s.error?.message;
  if (s.code !== undefined && NEEDS_TOKEN.has(s.code)) void s.delay;
});
page.on("error", (e) => void e.code);
page.on("bag_won", (e) => void e.type);
page.on("event", (e) => void e.offset);
page.addEventListener("comment", (e) => void (e as CustomEvent<CommentEvent>).detail.text);

async function buy(live: LiveRoom): Promise<string | null> {
  const id = live.newId();
  try {
    const reply: Reply = await live.send("buy", { sale: "s1", quantity: 1, request_id: id }, { id, timeoutMs: 3000 });
    return String(reply.order);
  } catch (err) {
    if (err instanceof LiveRoomError && err.retry) return buy(live);
    if (err instanceof LiveRoomError) return err.code;
    throw err;
  }
}

node.connect().close();
const fatal: number = CloseCode.ORIGIN_NOT_ALLOWED;
const held: number | null = node.offset;
const heldEpoch: string | null = node.epoch;
const open: boolean = node.isOpen;
void [buy, fatal, held, heldEpoch, open, node.welcome?.user.id, node.status === "reconnecting"];

// @ts-expect-error: a room is required
new LiveRoom({ url: "ws://x/ws" });
// @ts-expect-error: the token function gets { refresh }, not a string
new LiveRoom({ room: "r", token: (refresh: string) => refresh });
// @ts-expect-error: a comment's text is a string
page.on("comment", (c) => void (c.text satisfies number));
// @ts-expect-error: CloseCode is read-only
CloseCode.ROOM_ENDED = 4999;

// liveroom.js: a small client for the liveroom WebSocket protocol (version 1).
//
// No build step, no dependencies: an ES module for browsers and for Node 18+ (pass a WebSocket
// implementation, such as the `ws` package's, as the `WebSocket` option).
//
//   import { LiveRoom } from "liveroom-client";      // or "./liveroom.js" in a page
//   const live = new LiveRoom({ room: "demo", token: async () => myToken });
//   live.on("comment", (e) => show(e.user.name, e.text));
//   live.connect();
//   await live.send("comment", { text: "hi" });      // resolves with the reply, rejects with LiveRoomError
//
// What it does for you:
// - keeps the newest room offset it has seen, and the stream epoch that offset belongs to, and
//   passes both back on reconnect, so the server sends exactly what was missed ("resumed") or,
//   when that history is gone or started afresh (a new epoch), a fresh snapshot with reset=true
//   ("reset" event);
// - reconnects with exponential backoff and full jitter, and never sooner than a refusal's
//   `retry_after` (a busy server's 1013, a kick's 4031); asks for a fresh token after the server
//   refused the old one; stops for good on close codes that a retry cannot fix, and on a kick
//   longer than `kickWaitMaxMs`;
// - matches replies to request ids, with a timeout, and lets a caller choose the id (flash-sale
//   buys use it as the idempotency key: retry with the same id, get the same answer);
// - drops room events it already holds (offset not newer than its own), so a page never draws an
//   event twice.
//
// README.md (next to src/) and docs/client.md in the liveroom repository describe every option
// and event; liveroom.d.ts declares them.

export const PROTOCOL_VERSION = 1;

/**
 * Close codes (docs/protocol.md, "Close codes"; the server's are liveroom/errors.py CloseCode).
 * ABNORMAL is the browser's own: the connection dropped without a close frame.
 */
export const CloseCode = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  ABNORMAL: 1006,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  BAD_REQUEST: 4000,
  AUTH_FAILED: 4001,
  PING_TIMEOUT: 4002,
  WRONG_ROOM: 4003,
  ORIGIN_NOT_ALLOWED: 4004,
  SLOW_CONSUMER: 4008,
  ROOM_ENDED: 4010,
  TOKEN_EXPIRED: 4011,
  FLOOD: 4029,
  TOO_MANY_CONNECTIONS: 4030,
  KICKED: 4031,
});

/** Close codes after which reconnecting cannot help: the client stops (status "closed"). */
export const FATAL = Object.freeze(
  new Set([CloseCode.BAD_REQUEST, CloseCode.WRONG_ROOM, CloseCode.ORIGIN_NOT_ALLOWED, CloseCode.ROOM_ENDED]),
);

/** Close codes after which the client asks for a new token (``refresh: true``) before retrying. */
export const NEEDS_TOKEN = Object.freeze(new Set([CloseCode.AUTH_FAILED, CloseCode.TOKEN_EXPIRED]));

/**
 * How long the server asked this client to stay away, in ms, or 0: the ``retry_after`` seconds
 * of the refusal's ``error`` event, else of the close reason (``...; retry_after=2.5``).
 */
export function retryAfterMs(error, reason = "") {
  let seconds = Number(error?.retry_after);
  if (!Number.isFinite(seconds)) {
    const found = /retry_after=([0-9.]+)/.exec(reason || "");
    seconds = found ? Number(found[1]) : 0;
  }
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
}

/** A refused command, or one whose answer never came. */
export class LiveRoomError extends Error {
  constructor(code, message, { retry = false, details = {} } = {}) {
    super(message || code);
    this.name = "LiveRoomError";
    /** the server's error code (``sold_out``, ``muted`` ...) or ``timeout``/``disconnected``/``closed`` */
    this.code = code;
    /** whether sending the very same request again may succeed */
    this.retry = retry;
    this.details = details;
  }
}

const DEFAULTS = {
  url: null, // ws(s)://host/ws; default: /ws on the page's own host (browsers only)
  room: "",
  token: null, // string, or (async) function ({ refresh }) => string; null for anonymous
  offset: null, // resume from this offset on the first connection (an offset saved earlier)
  epoch: null, // ... of this epoch (saved with it); an offset without its epoch gets a reset
  source: null, // where the viewer came from (``src``: feed, follow, search, share, group, official, ad, other)
  requestTimeoutMs: 8000,
  backoffBaseMs: 300,
  backoffMaxMs: 10000,
  kickWaitMaxMs: 600000, // a kick (4031) up to this long is waited out; a longer one stops the client
  pingIntervalMs: 25000, // application ping, after an interval with nothing received
  WebSocket: null, // inject an implementation (Node, tests); default globalThis.WebSocket
  random: Math.random, // the backoff's random source, () => [0, 1)
};

// Node 18 has EventTarget and Event but no global CustomEvent.
const makeEvent =
  typeof globalThis.CustomEvent === "function"
    ? (type, detail) => new CustomEvent(type, { detail })
    : (type, detail) => Object.assign(new Event(type), { detail });

const utf8 = new TextDecoder();

/**
 * One connection to one room, kept alive across network trouble and server restarts.
 *
 * Events (``on(type, detail => ...)`` or ``addEventListener(type, e => e.detail)``):
 *   every server event by its type: welcome, snapshot, comment, system, stats, room, error, ...
 *   "status"  {status, attempt, delay, code, reason, error}: connecting | open | reconnecting | closed
 *   "reset"   the snapshot, when the server could not replay what was missed
 *   "resumed" {offset, missed}: the missed events were replayed
 *   "event"   every server event, whatever its type (after the typed one)
 */
export class LiveRoom extends EventTarget {
  constructor(options = {}) {
    super();
    this.options = { ...DEFAULTS, ...options };
    if (!this.options.room) throw new TypeError("LiveRoom needs a room");
    if (!this.options.url && typeof location === "undefined") {
      throw new TypeError("LiveRoom needs a url outside a browser page");
    }
    /** newest room offset held; null until the first snapshot */
    this.offset = this.options.offset ?? null;
    /** the stream epoch of that offset (from the snapshot or "resumed"); null until then */
    this.epoch = this.options.epoch ?? null;
    /** the welcome event of the current connection: {role, user, node, protocol} */
    this.welcome = null;
    this.status = "idle";
    this.attempt = 0;
    this._ws = null;
    this._pending = new Map(); // request id -> {resolve, reject, timer, sent, message}
    this._ids = 0;
    this._retryTimer = null;
    this._pingTimer = null;
    this._heard = false; // something other than our ping's reply came since the last interval
    this._pingId = null; // the request id of the ping in flight
    this._stopped = true;
    this._opening = 0; // bumped by close(): a token fetch that outlives it is dropped
    this._refreshToken = false;
    this._refusal = null; // the error event the server sent before closing this connection
    this._resyncing = false; // a resync came: nothing more is taken from this connection
    this._idPrefix = Math.random().toString(36).slice(2, 8);
  }

  /** Subscribe to an event type; returns a function that unsubscribes. */
  on(type, callback) {
    const listener = (e) => callback(e.detail, e);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  /** Open the connection (and keep it open until ``close``). */
  connect() {
    if (!this._stopped) return this;
    this._stopped = false;
    this._open();
    return this;
  }

  /** Close for good: no reconnect; pending requests fail with code ``closed``. */
  close() {
    this._stopped = true;
    this._opening += 1;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._stopPing();
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      this._detach(ws);
      ws.close(CloseCode.NORMAL, "bye");
    }
    this._failPending("closed", "connection closed by the page");
    this._setStatus("closed", { code: CloseCode.NORMAL, reason: "closed" });
  }

  /** Whether commands can be sent right now. */
  get isOpen() {
    return this.status === "open";
  }

  /**
   * Send a command and wait for its reply.
   *
   * Resolves with the reply (``{type:"reply", id, ok:true, ...}``). Rejects with a
   * ``LiveRoomError``: the server's code when refused; ``timeout`` when no reply came in time;
   * ``disconnected`` when the connection dropped first (the command may or may not have run:
   * resend it with the same ``id`` where the command is idempotent); ``closed`` when the client
   * is closed for good. While the client is connecting or reconnecting the command waits for
   * the connection, within the timeout.
   */
  send(type, fields = {}, { id = null, timeoutMs = null } = {}) {
    const rid = id || this.newId();
    const timeout = timeoutMs ?? this.options.requestTimeoutMs;
    if (this.status === "closed") {
      return Promise.reject(new LiveRoomError("closed", "the client is closed"));
    }
    return new Promise((resolve, reject) => {
      const entry = { resolve, reject, timer: null, sent: false, message: null };
      entry.timer = setTimeout(() => {
        this._pending.delete(rid);
        reject(new LiveRoomError("timeout", `no reply to ${type} in ${timeout} ms`, { retry: true }));
      }, timeout);
      entry.message = JSON.stringify({ ...fields, type, id: rid });
      this._pending.set(rid, entry);
      if (this.isOpen) this._transmit(entry);
    });
  }

  /** A fresh request id, unique for this page. */
  newId() {
    this._ids += 1;
    return `${this._idPrefix}-${this._ids}`;
  }

  // ---------------------------------------------------------------- connection

  async _open() {
    this._retryTimer = null;
    if (this._stopped) return;
    const opening = this._opening;
    this._setStatus(this.attempt ? "reconnecting" : "connecting", { attempt: this.attempt });
    let token = null;
    try {
      const source = this.options.token;
      token = typeof source === "function" ? await source({ refresh: this._refreshToken }) : source;
    } catch (err) {
      if (opening === this._opening) this._scheduleRetry({ code: 0, reason: `token: ${err.message || err}` });
      return;
    }
    if (this._stopped || opening !== this._opening) return;
    const params = new URLSearchParams({ room: this.options.room });
    if (token) params.set("token", token);
    if (this.offset !== null) {
      params.set("offset", String(this.offset));
      if (this.epoch !== null) params.set("epoch", this.epoch);
    }
    if (this.options.source) params.set("src", String(this.options.source));
    const Impl = this.options.WebSocket || globalThis.WebSocket;
    let ws;
    try {
      ws = new Impl(`${this._baseUrl()}?${params}`);
    } catch (err) {
      this._scheduleRetry({ code: 0, reason: String(err.message || err) });
      return;
    }
    this._ws = ws;
    this._refusal = null;
    this._resyncing = false;
    ws.binaryType = "arraybuffer"; // read a binary frame as bytes now, not as a Blob later
    ws.onmessage = (msg) => this._onMessage(msg.data);
    ws.onclose = (e) => this._onClose(ws, e.code, e.reason);
    ws.onerror = () => {}; // a close event always follows; it carries the code
  }

  _baseUrl() {
    if (this.options.url) return this.options.url;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws`;
  }

  _detach(ws) {
    ws.onmessage = ws.onclose = ws.onerror = null;
  }

  _onClose(ws, code, reason) {
    if (ws !== this._ws) return;
    this._ws = null;
    this._detach(ws);
    this._stopPing();
    this.welcome = null;
    // Sent-but-unanswered requests may or may not have run: tell the caller. Unsent ones wait.
    for (const [rid, entry] of this._pending) {
      if (entry.sent) {
        this._pending.delete(rid);
        clearTimeout(entry.timer);
        entry.reject(new LiveRoomError("disconnected", "connection lost before the reply", { retry: true }));
      }
    }
    if (this._stopped) return;
    const error = this._refusal;
    const waitMs = retryAfterMs(error, reason);
    if (FATAL.has(code) || (code === CloseCode.KICKED && waitMs > this.options.kickWaitMaxMs)) {
      this._stopped = true;
      this._failPending("closed", error?.message || reason || `closed with code ${code}`);
      this._setStatus("closed", { code, reason, error });
      return;
    }
    this._refreshToken = NEEDS_TOKEN.has(code);
    this._scheduleRetry({ code, reason, error, waitMs });
  }

  _scheduleRetry({ code, reason, error = null, waitMs = 0 }) {
    if (this._stopped) return;
    const { backoffBaseMs, backoffMaxMs, random } = this.options;
    const ceiling = Math.min(backoffMaxMs, backoffBaseMs * 2 ** this.attempt);
    // Full jitter: a room's viewers spread their reconnects over the whole window instead of
    // hitting a restarted server in the same millisecond. A first retry (after a server restart,
    // 1012, or a resync) therefore comes within backoffBaseMs. A refusal's retry_after (1013,
    // already jittered by the server; a kick's end) is a floor: never come back sooner.
    const delay = Math.max(random() * ceiling, waitMs);
    this.attempt += 1;
    this._setStatus("reconnecting", { attempt: this.attempt, delay, code, reason, error });
    this._retryTimer = setTimeout(() => this._open(), delay);
  }

  _onMessage(data) {
    let events;
    try {
      events = JSON.parse(typeof data === "string" ? data : utf8.decode(data));
    } catch {
      return;
    }
    if (!Array.isArray(events)) events = [events];
    for (const ev of events) {
      // a frame shows the connection is alive, except the reply to our ping (it only answers it)
      if (!(ev && ev.type === "reply" && ev.id === this._pingId)) this._heard = true;
      if (this._resyncing) return; // the rest of a resync's frame belongs to a stale connection
      if (ev && typeof ev === "object") this._handle(ev);
    }
  }

  _handle(ev) {
    switch (ev.type) {
      case "reply":
        this._settle(ev);
        return;
      case "welcome":
        this.welcome = ev;
        break;
      case "error":
        // The server refuses this connection; the close (and its code) follows.
        this._refusal = ev;
        break;
      case "kicked":
        // The host kicked this user: the close (4031) follows; its retry_after is the kick's.
        this._refusal = ev;
        break;
      case "snapshot":
        // A reset snapshot may be of a new epoch, with offsets below ours: take both as they are.
        this.offset = ev.offset;
        this.epoch = ev.epoch ?? null;
        this._opened();
        this._emit("snapshot", ev);
        if (ev.reset) this._emit("reset", ev);
        this._emit("event", ev);
        return;
      case "resumed":
        this.offset = Math.max(this.offset ?? 0, ev.offset);
        if (ev.epoch) this.epoch = ev.epoch;
        this._opened();
        break;
      case "skipped":
        // We were slow and the server left comments out; state events still came.
        this.offset = Math.max(this.offset ?? 0, ev.to);
        break;
      case "resync": {
        // The server lost track of the room's history, or its epoch changed: what we hold is
        // stale. Reconnect with the offset and epoch we held, which gets an exact resume or a
        // reset snapshot (that one brings the new epoch). Nothing after the resync on this
        // connection is taken: it would move our offset past events we never got.
        this._resyncing = true;
        this._ws?.close(CloseCode.NORMAL, "resync");
        break;
      }
      default:
        if (typeof ev.offset === "number") {
          if (this.offset !== null && ev.offset <= this.offset) return; // already held
          this.offset = ev.offset;
        }
    }
    this._emit(ev.type, ev);
    this._emit("event", ev);
  }

  _opened() {
    if (this.status === "open") return;
    this.attempt = 0;
    this._refreshToken = false;
    this._setStatus("open", {});
    this._startPing();
    for (const entry of this._pending.values()) {
      if (!entry.sent) this._transmit(entry);
    }
  }

  _transmit(entry) {
    if (!this._ws) return;
    try {
      this._ws.send(entry.message);
      entry.sent = true;
    } catch {
      // left unsent: goes out after the reconnect
    }
  }

  _settle(ev) {
    const entry = this._pending.get(ev.id);
    if (!entry) {
      if (ev.ok === false) this._emit("error", ev.error || {});
      return;
    }
    this._pending.delete(ev.id);
    clearTimeout(entry.timer);
    if (ev.ok) {
      entry.resolve(ev);
    } else {
      const err = ev.error || {};
      entry.reject(new LiveRoomError(err.code || "error", err.message, { retry: !!err.retry, details: err }));
    }
  }

  _failPending(code, message) {
    for (const entry of this._pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(new LiveRoomError(code, message));
    }
    this._pending.clear();
  }

  _startPing() {
    this._stopPing();
    const every = this.options.pingIntervalMs;
    if (!every) return;
    this._heard = false;
    this._pingTimer = setInterval(() => {
      // frames came in this interval: the connection is not half-open, no ping needed (the
      // server's own pings, which the browser answers, keep it in touch the other way)
      if (this._heard) {
        this._heard = false;
        return;
      }
      const ws = this._ws;
      this._pingId = this.newId();
      this.send("ping", {}, { id: this._pingId, timeoutMs: every }).catch((err) => {
        // No answer in a whole interval: the connection is dead even if the socket says not.
        // Don't wait for a close handshake that cannot come: drop it and reconnect now.
        if (err.code !== "timeout" || !ws || ws !== this._ws) return;
        ws.close(CloseCode.NORMAL, "ping timeout");
        this._onClose(ws, CloseCode.ABNORMAL, "ping timeout");
      });
    }, every);
  }

  _stopPing() {
    clearInterval(this._pingTimer);
    this._pingTimer = null;
  }

  _setStatus(status, detail) {
    this.status = status;
    this._emit("status", { status, ...detail });
  }

  _emit(type, detail) {
    this.dispatchEvent(makeEvent(type, detail));
  }
}

// Type declarations for liveroom.js, the client of the liveroom WebSocket protocol (version 1).
// The protocol itself: docs/protocol.md in the liveroom repository.
//
// The declarations use the DOM's EventTarget and CustomEvent: a TypeScript project needs the
// "DOM" lib, or @types/node (Node 18+ has both classes).

export declare const PROTOCOL_VERSION: 1;

/** Close codes (docs/protocol.md, "Close codes"). ABNORMAL (1006) is the browser's own. */
export declare const CloseCode: Readonly<{
  NORMAL: 1000;
  GOING_AWAY: 1001;
  ABNORMAL: 1006;
  MESSAGE_TOO_BIG: 1009;
  INTERNAL_ERROR: 1011;
  SERVICE_RESTART: 1012;
  TRY_AGAIN_LATER: 1013;
  BAD_REQUEST: 4000;
  AUTH_FAILED: 4001;
  PING_TIMEOUT: 4002;
  WRONG_ROOM: 4003;
  ORIGIN_NOT_ALLOWED: 4004;
  SLOW_CONSUMER: 4008;
  ROOM_ENDED: 4010;
  TOKEN_EXPIRED: 4011;
  FLOOD: 4029;
  TOO_MANY_CONNECTIONS: 4030;
  KICKED: 4031;
}>;

export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode];

/** Close codes after which the client stops for good (status "closed"): 4000, 4003, 4004, 4010. */
export declare const FATAL: ReadonlySet<number>;

/** Close codes after which the token function is called with `refresh: true`: 4001, 4011. */
export declare const NEEDS_TOKEN: ReadonlySet<number>;

/**
 * How long a refusal asked the client to stay away, in ms (0: no ask): `retry_after` seconds
 * from the refusal's `error` event, else from the close reason. The client never reconnects
 * sooner (1013 "try again later", 4031 kicked).
 */
export declare function retryAfterMs(error: { retry_after?: number } | null | undefined, reason?: string): number;

/** A refused command, or one whose answer never came. */
export declare class LiveRoomError extends Error {
  constructor(code: string, message?: string, options?: { retry?: boolean; details?: Record<string, unknown> });
  name: "LiveRoomError";
  /**
   * The server's error code (`sold_out`, `muted`, `rate_limited`, ...), or the client's own:
   * `timeout` (no reply in time), `disconnected` (the connection dropped after the command was
   * sent; it may or may not have run), `closed` (the client is closed for good).
   */
  code: string;
  /** Whether sending the very same request again may succeed. */
  retry: boolean;
  /** The whole error body from the server (for instance `amount` with `already_grabbed`). */
  details: Record<string, unknown>;
}

// ------------------------------------------------------------------ options

/** What the client needs of a WebSocket: the browser's, or the `ws` package's in Node. */
export interface WebSocketLike {
  /** Set to "arraybuffer" by the client, so a binary frame can be read at once. */
  binaryType?: string;
  /** The client reads `event.data`: a string, or bytes (ArrayBuffer or a typed array). */
  onmessage: ((event: any) => void) | null;
  /** The client reads `event.code` and `event.reason`. */
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/**
 * A token, or a function that gives one (it may be async). It is called before every connection
 * attempt; `refresh` is true when the server refused the previous token (close 4001 or 4011).
 */
export type TokenSource =
  | string
  | null
  | ((context: { refresh: boolean }) => string | null | undefined | Promise<string | null | undefined>);

export interface LiveRoomOptions {
  /** The room id (1 to 64 of `A-Z a-z 0-9 _ -`). */
  room: string;
  /** The WebSocket endpoint, `ws(s)://host/ws`. Default: `/ws` on the page's own host; required outside a browser. */
  url?: string | null;
  /** Default null: an anonymous, read-only viewer where the room allows it. */
  token?: TokenSource;
  /** Resume from this offset on the first connection (one saved earlier). Default null: a fresh join. */
  offset?: number | null;
  /** The stream epoch of `offset` (saved with it). Without it a resume gets a reset snapshot. */
  epoch?: string | null;
  /** Where the viewer came from, sent as `src` for the host's analytics: `feed`, `follow`, `search`, `share`, `group`, `official`, `ad` or `other` (anything else counts as `other`). Default null: not sent. */
  source?: string | null;
  /** How long `send` waits for a reply. Default 8000. */
  requestTimeoutMs?: number;
  /** The first reconnect ceiling; it doubles per failed attempt. Default 300. */
  backoffBaseMs?: number;
  /** The largest reconnect ceiling. Default 10000. */
  backoffMaxMs?: number;
  /**
   * A kick (close 4031) whose `retry_after` is at most this long is waited out, then the client
   * reconnects; a longer one stops the client (status "closed", the refusal in `error`).
   * Default 600000.
   */
  kickWaitMaxMs?: number;
  /** An application `ping` this often; no reply within one interval reconnects. 0: none. Default 25000. */
  pingIntervalMs?: number;
  /** A WebSocket implementation. Default `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor | null;
  /** The backoff's random source, giving numbers in [0, 1). Default `Math.random`. */
  random?: () => number;
}

// ------------------------------------------------------------------ events

export type Role = "anonymous" | "viewer" | "host" | "admin";
export type Status = "idle" | "connecting" | "open" | "reconnecting" | "closed";

export interface User {
  id: string;
  name: string;
}

/** Any event the server sends; the interfaces below name the fields of the core ones. */
export interface ServerEvent {
  type: string;
  /** Room events only: grows by exactly one per room event. */
  offset?: number;
  [field: string]: unknown;
}

export interface RoomInfo {
  id: string;
  title?: string;
  allow_anonymous?: boolean;
  sensitive_mode?: string;
  comment_cap?: number;
  ended?: boolean;
  [field: string]: unknown;
}

export interface WelcomeEvent extends ServerEvent {
  type: "welcome";
  protocol: number;
  node: string;
  role: Role;
  user: User;
  room: string;
}

export interface SnapshotEvent extends ServerEvent {
  type: "snapshot";
  /** The room's offset this snapshot is as of; live events continue at `offset + 1`. */
  offset: number;
  /** The stream epoch of `offset`: offsets mean something only with it. */
  epoch: string;
  /** True when a resume could not be served: drop local state and redraw from this snapshot. */
  reset?: boolean;
  room: RoomInfo;
  online: number;
  peak: number;
  likes: number;
  /** The last comments, oldest first. */
  comments: CommentEvent[];
  sales?: Sale[];
  cards?: unknown;
  bag?: unknown;
  packets?: unknown;
}

export interface CommentEvent extends ServerEvent {
  type: "comment";
  /** Absent on private copies (`self: true`). */
  offset?: number;
  ts: number;
  user: User;
  text: string;
  masked?: boolean;
  self?: boolean;
  shed?: boolean;
  hidden?: boolean;
}

export interface SystemEvent extends ServerEvent {
  type: "system";
  offset: number;
  ts: number;
  text: string;
  by: User;
}

export interface RoomUpdateEvent extends ServerEvent {
  type: "room";
  offset: number;
  room: RoomInfo;
}

export interface StatsEvent extends ServerEvent {
  type: "stats";
  online: number;
  peak: number;
  likes: number;
}

export interface ResumedEvent extends ServerEvent {
  type: "resumed";
  offset: number;
  missed: number;
  /** The stream epoch the resume was served from: the one the client asked with. */
  epoch: string;
}

export interface SkippedEvent extends ServerEvent {
  type: "skipped";
  from: number;
  to: number;
  count: number;
}

export interface ResyncEvent extends ServerEvent {
  type: "resync";
  /** Where the connection's events would continue: after `offset` of `epoch`. */
  offset: number;
  /** The stream's epoch from here on; a new one when the room's history started afresh. */
  epoch: string;
}

/** Why the server refused this connection; the close (with its code) follows. */
export interface RefusalEvent extends ServerEvent {
  type: "error";
  code: string;
  message: string;
  /** Seconds before a new connection may succeed: with 1013 (server busy) and 4031 (kicked). */
  retry_after?: number;
}

/** This user was kicked from the room; the connection closes with 4031 right after. */
export interface KickedEvent extends ServerEvent {
  type: "kicked";
  /** When the kick ends, seconds since the epoch. */
  until: number;
  retry_after: number;
}

/** An error reply's body, emitted as "error" when it answers no request of this client. */
export interface ErrorBody {
  code: string;
  message: string;
  retry: boolean;
  [field: string]: unknown;
}

/** A flash sale (docs/flashsale.md); `price` in fen. */
export interface Sale {
  id: string;
  sku: string;
  title: string;
  price: number;
  stock: number;
  total: number;
  limit: number;
  start: number | null;
  end: number | null;
  status: string;
  sold_out: boolean;
  version: number;
  [field: string]: unknown;
}

export interface SaleEvent extends ServerEvent {
  type: "sale" | "sold_out";
  offset: number;
  sale: Sale;
}

/** The answer to one command. */
export interface Reply {
  type: "reply";
  id: string;
  ok: true;
  [field: string]: unknown;
}

export interface StatusDetail {
  status: Status;
  /** Failed attempts so far (on connecting and reconnecting). */
  attempt?: number;
  /** How long until the next attempt, in ms (on reconnecting). */
  delay?: number;
  /** The close code that ended the last connection (0 when the token function failed). */
  code?: number;
  reason?: string;
  /** The server's refusal, when it sent one before closing. */
  error?: RefusalEvent | null;
}

export interface LiveRoomEventMap {
  welcome: WelcomeEvent;
  snapshot: SnapshotEvent;
  /** The snapshot, when the server could not replay what was missed. */
  reset: SnapshotEvent;
  resumed: ResumedEvent;
  comment: CommentEvent;
  system: SystemEvent;
  room: RoomUpdateEvent;
  stats: StatsEvent;
  skipped: SkippedEvent;
  resync: ResyncEvent;
  kicked: KickedEvent;
  sale: SaleEvent;
  sold_out: SaleEvent;
  error: RefusalEvent | ErrorBody;
  status: StatusDetail;
  /** Every server event, whatever its type, after the typed one. */
  event: ServerEvent;
}

export interface SendOptions {
  /** The request id (a flash-sale buy reuses its id to retry). Default: a fresh one. */
  id?: string | null;
  /** Default: the `requestTimeoutMs` option. */
  timeoutMs?: number | null;
}

/** One connection to one room, kept alive across network trouble and server restarts. */
export declare class LiveRoom extends EventTarget {
  constructor(options: LiveRoomOptions);
  readonly options: Required<LiveRoomOptions>;
  /** The newest room offset held; null until the first snapshot. */
  offset: number | null;
  /** The stream epoch of `offset`; null until the first snapshot. */
  epoch: string | null;
  /** The current connection's welcome event; null while not connected. */
  welcome: WelcomeEvent | null;
  status: Status;
  /** Failed connection attempts since the last successful join. */
  attempt: number;
  /** Whether commands can be sent right now. */
  readonly isOpen: boolean;

  /** Subscribe to an event type; returns a function that unsubscribes. */
  on<K extends keyof LiveRoomEventMap>(
    type: K,
    callback: (detail: LiveRoomEventMap[K], event: CustomEvent<LiveRoomEventMap[K]>) => void,
  ): () => void;
  on(type: string, callback: (detail: ServerEvent, event: CustomEvent<ServerEvent>) => void): () => void;

  /** Open the connection, and keep it open until `close`. */
  connect(): this;
  /** Close for good: no reconnect; pending requests fail with code `closed`. */
  close(): void;
  /**
   * Send a command and wait for its reply. Rejects with `LiveRoomError`: the server's code when
   * refused, or `timeout`, `disconnected`, `closed`.
   */
  send<R extends Reply = Reply>(type: string, fields?: Record<string, unknown>, options?: SendOptions): Promise<R>;
  /** A fresh request id, unique for this client. */
  newId(): string;
}

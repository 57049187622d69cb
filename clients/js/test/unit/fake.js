// A fake WebSocket for the unit tests: the test plays the server.
//
// Each LiveRoom gets a class of its own (`fakeServer().WebSocket`), so the sockets it opened are
// listed in order and a test speaks for the server through the newest one.

import { LiveRoom } from "../../src/liveroom.js";

export function fakeServer() {
  const sockets = [];

  class FakeSocket {
    constructor(url) {
      this.url = new URL(url);
      this.sent = [];
      this.closedWith = null;
      this.onmessage = this.onclose = this.onerror = null;
      sockets.push(this);
    }

    /** The client sends a command: kept, parsed. */
    send(data) {
      this.sent.push(JSON.parse(data));
    }

    /** The client closes: recorded; the close event comes only when the test calls `drop`. */
    close(code, reason) {
      this.closedWith = { code, reason };
    }

    /** The server sends one frame: a JSON array of events. */
    frame(...events) {
      this.onmessage?.({ data: JSON.stringify(events) });
    }

    /** The server sends the connection's first frames: welcome, then a snapshot at `offset`
     * (of epoch "e1" unless `fields` says otherwise). */
    join(offset, fields = {}) {
      this.frame({ type: "welcome", protocol: 1, role: "viewer", user: { id: "u1", name: "U" } });
      this.frame({ type: "snapshot", offset, epoch: "e1", comments: [], ...fields });
    }

    /** The connection ends with a close code (as the browser reports it). */
    drop(code, reason = "") {
      this.onclose?.({ code, reason });
    }

    get offset() {
      return this.url.searchParams.get("offset");
    }

    get epoch() {
      return this.url.searchParams.get("epoch");
    }

    get token() {
      return this.url.searchParams.get("token");
    }

    /** The commands of a type the client sent on this socket. */
    commands(type) {
      return this.sent.filter((c) => c.type === type);
    }
  }

  return {
    sockets,
    WebSocket: FakeSocket,
    get last() {
      return sockets.at(-1);
    },
  };
}

/**
 * A LiveRoom on a fake server, with a fixed random source, short timings and every event it
 * emits recorded in `events` as [type, detail].
 */
export function fakeRoom(options = {}) {
  const server = fakeServer();
  const live = new LiveRoom({
    url: "ws://liveroom.test/ws",
    room: "r1",
    token: "t0",
    WebSocket: server.WebSocket,
    random: () => 0.5,
    backoffBaseMs: 100,
    backoffMaxMs: 1000,
    pingIntervalMs: 0,
    ...options,
  });
  const events = [];
  const record = live.dispatchEvent.bind(live);
  live.dispatchEvent = (e) => {
    events.push([e.type, e.detail]);
    return record(e);
  };
  const of = (type) => events.filter(([t]) => t === type).map(([, d]) => d);
  return { live, server, events, of };
}

/** Let pending promise callbacks (a token function, a rejected request) run. */
export function settle() {
  return new Promise((resolve) => setImmediate(resolve));
}

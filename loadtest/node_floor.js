// The Node.js reference for `python -m loadtest.sendfloor --server node-ws`: a bare `ws` server
// that writes the same text frame to every connection RATE times a second, and reports its own
// CPU time, and its RSS with every viewer in and idle (kB per connection). Arguments: HOST PORT
// VIEWERS RATE DURATION BYTES. Needs the `ws` package on NODE_PATH (`npm install --prefix DIR
// ws`, then NODE_PATH=DIR/node_modules).
"use strict";

const { WebSocketServer } = require("ws");

const [host, port, viewers, rate, duration, bytes] = process.argv.slice(2);
const wanted = Number(viewers);
const ticks = Math.round(Number(duration) * Number(rate));
// encoded once, as liveroom and websockets' broadcast() do: with its 4-byte header, BYTES on the wire
const payload = Buffer.from("x".repeat(Number(bytes) - 4));

const wss = new WebSocketServer({ host, port: Number(port), perMessageDeflate: false, backlog: 4096 });
wss.on("listening", () => console.log(JSON.stringify({ listening: true })));

function cpu() {
  const used = process.cpuUsage();
  return [used.user / 1e6, used.system / 1e6];
}

function waitForViewers(deadline) {
  return new Promise((resolve) => {
    const poll = () => {
      if (wss.clients.size >= wanted || Date.now() > deadline) resolve();
      else setTimeout(poll, 50);
    };
    poll();
  });
}

async function main() {
  await new Promise((resolve) => wss.once("listening", resolve));
  const rssBase = process.memoryUsage().rss;
  await waitForViewers(Date.now() + 60000);
  await new Promise((resolve) => setTimeout(resolve, 1000)); // the handshakes' last bytes
  const rssIdle = process.memoryUsage().rss; // every viewer in, idle: what each one holds
  const idleConnections = wss.clients.size;
  const before = cpu();
  const begin = Date.now();
  let writes = 0;
  for (let i = 0; i < ticks; i++) {
    const wait = begin + (i * 1000) / Number(rate) - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    for (const client of wss.clients) client.send(payload, { binary: false });
    writes += wss.clients.size;
  }
  await new Promise((resolve) => setTimeout(resolve, 1000 / Number(rate)));
  const after = cpu();
  console.log(
    JSON.stringify({
      connections: wss.clients.size,
      writes,
      seconds: (Date.now() - begin) / 1000,
      user_s: after[0] - before[0],
      system_s: after[1] - before[1],
      rss_base_mb: rssBase / 2 ** 20,
      rss_idle_mb: rssIdle / 2 ** 20,
      kb_per_connection: idleConnections ? (rssIdle - rssBase) / 1024 / idleConnections : null,
    }),
  );
  process.exit(0);
}

main();

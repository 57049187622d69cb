// A real liveroom server for the integration tests: `python -m liveroom serve` on a free port,
// configured by LIVEROOM_* variables, ready once GET /readyz answers 200.
//
// LIVEROOM_PYTHON picks the interpreter (default: the repository's .venv, two levels above this
// package). LIVEROOM_TEST_TIMEOUT_SCALE stretches every deadline on a slow machine.

import { spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:net";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";

const PACKAGE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const REPO = path.resolve(PACKAGE, "../..");
const SCALE = Number(process.env.LIVEROOM_TEST_TIMEOUT_SCALE || "1");

/** A deadline in milliseconds, stretched by LIVEROOM_TEST_TIMEOUT_SCALE. */
export function scaled(ms) {
  return ms * SCALE;
}

async function freePort() {
  const probe = createServer();
  probe.listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address();
  probe.close();
  await once(probe, "close");
  return port;
}

/**
 * Start a server; `settings` are extra LIVEROOM_* variables. Resolves once it is ready, with
 * its urls, secret and API key, and `stop()`. Rejects (with the server's output) if it exits
 * or is not ready in time.
 */
export async function startServer(settings = {}) {
  const port = await freePort();
  const secret = randomBytes(24).toString("hex");
  const apiKey = randomBytes(16).toString("hex");
  const python = process.env.LIVEROOM_PYTHON || path.join(REPO, ".venv", "bin", "python");
  const env = {
    ...process.env,
    LIVEROOM_HOST: "127.0.0.1",
    LIVEROOM_PORT: String(port),
    LIVEROOM_SECRET: secret,
    LIVEROOM_API_KEY: apiKey,
    LIVEROOM_DEMO: "0",
    LIVEROOM_ENGINE: "memory",
    LIVEROOM_DRAIN_S: "0",
    LIVEROOM_LOG_JSON: "0",
    ...settings,
  };
  const proc = spawn(python, ["-m", "liveroom", "serve"], { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk) => {
    output = (output + chunk).slice(-8000);
  };
  proc.stdout.on("data", keep);
  proc.stderr.on("data", keep);
  let exited = null;
  proc.on("exit", (code, signal) => {
    exited = { code, signal };
  });
  proc.on("error", (err) => {
    exited = { code: null, signal: null, error: err };
  });
  const killOnExit = () => proc.kill("SIGKILL");
  process.on("exit", killOnExit);

  const http = `http://127.0.0.1:${port}`;
  const server = {
    http,
    ws: `ws://127.0.0.1:${port}/ws`,
    secret,
    apiKey,
    get output() {
      return output;
    },
    /** A token signed with this server's secret. */
    token(user, room, role = "viewer") {
      return mintToken(secret, { sub: user, room, role });
    },
    /** A backend call to the HTTP API with the API key; resolves with the JSON answer. */
    async api(method, pathname, body) {
      const res = await fetch(http + pathname, {
        method,
        headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const answer = await res.json();
      if (!res.ok) throw new Error(`${method} ${pathname}: HTTP ${res.status} ${JSON.stringify(answer)}`);
      return answer;
    },
    async stop() {
      process.off("exit", killOnExit);
      if (exited) return;
      const gone = once(proc, "exit");
      proc.kill("SIGTERM");
      const late = delay(scaled(10000), "late", { ref: false });
      if ((await Promise.race([gone, late])) === "late") {
        proc.kill("SIGKILL");
        await gone;
      }
    },
  };

  // Poll readiness under a deadline: the server imports, binds and opens its engine first.
  const deadline = Date.now() + scaled(20000);
  for (;;) {
    if (exited) throw new Error(`liveroom serve exited (${JSON.stringify(exited)}):\n${output}`);
    try {
      const res = await fetch(`${http}/readyz`);
      await res.arrayBuffer();
      if (res.status === 200) return server;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`liveroom serve not ready at ${http} in time:\n${output}`);
    }
    await delay(50);
  }
}

/**
 * An HS256 JWT as liveroom/auth.py checks it (`sub`, `name`, `role`, `room`, `iat`, `exp`),
 * signed the way a shop's backend would sign it.
 */
export function mintToken(secret, { sub, room, role = "viewer", name = sub, ttlS = 3600 }) {
  const now = Math.floor(Date.now() / 1000);
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${part({ alg: "HS256", typ: "JWT" })}.${part({ sub, name, role, room, iat: now, exp: now + ttlS })}`;
  const signature = createHmac("sha256", secret).update(unsigned).digest("base64url");
  return `${unsigned}.${signature}`;
}

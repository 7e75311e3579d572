import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect as tcpConnect } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AUTH_TIMEOUT_S, ensureNatsUsers, natsAuthorizationConfig } from "../../auth/nats-users.ts";
import { DEFAULT_PARTITIONS } from "../../config/index.ts";
import { NatsServer } from "../harness/nats-server.ts";

/** What the server wrote to a client that connected and stayed silent for `ms`, and whether it closed the connection. */
function silentClient(url: string, ms: number): Promise<{ received: string; closed: boolean }> {
  const { hostname, port } = new URL(url.replace(/^nats:/, "http:"));
  return new Promise((resolve, reject) => {
    let received = "";
    let closed = false;
    const socket = tcpConnect({ host: hostname, port: Number(port) });
    socket.on("data", (chunk) => { received += chunk.toString(); });
    socket.on("close", () => { closed = true; });
    socket.on("error", reject);
    setTimeout(() => { socket.destroy(); resolve({ received, closed }); }, ms);
  });
}

test(`the generated authorization gives a client ${AUTH_TIMEOUT_S} s to sign in, not nats-server's 2 s (a loaded machine's starting actor took longer)`, async () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-auth-timeout-"));
  const nats = await NatsServer.start({ authorization: natsAuthorizationConfig(ensureNatsUsers(join(dir, "creds"), { partitions: DEFAULT_PARTITIONS })) });
  try {
    const { received, closed } = await silentClient(nats.url, 3_500);
    assert.match(received, /^INFO /, "the server greeted the client");
    assert.not.match(received, "Authentication Timeout", "closed a client that had not signed in within 3.5 s");
    assert.not.ok(closed, "the connection is still open after 3.5 s");
  } finally {
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

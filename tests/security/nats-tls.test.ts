// TLS to NATS: the generated config's tls block, and clients that trust the server through
// NATS_TLS_CA and present NATS_TLS_CERT/NATS_TLS_KEY when the server verifies clients.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { loadConfig } from "../../config/index.ts";
import { ensureNatsUsers, natsAuthorizationConfig } from "../../auth/nats-users.ts";
import { closeNats, connectNats } from "../../nats/connect.ts";
import { NatsServer } from "../harness/nats-server.ts";

test("with --tls-verify a client needs the CA and its own certificate; then it signs in as its user", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-nats-tls-"));
  let nats: NatsServer | undefined;
  try {
    // One self-signed certificate for 127.0.0.1 serves as CA, server and client certificate.
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    const made = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], { encoding: "utf8" });
    assert.is(made.status, 0, made.stderr);
    const credentials = join(dir, "credentials");
    const users = ensureNatsUsers(credentials, { partitions: loadConfig({}).partitions });
    nats = await NatsServer.start({ authorization: natsAuthorizationConfig(users, { cert, key, ca: cert, verify: true }) });
    const base = { SLUICE_NATS_CREDENTIALS: credentials };
    const quiet = { wait: false, log: { info: () => undefined } };

    const untrusted = await connectNats(nats.url, loadConfig(base), "sluice:up", quiet).then(() => "connected", (e: Error) => e.message);
    assert.is.not(untrusted, "connected", "without NATS_TLS_CA the server's certificate is not trusted");
    const noClientCert = await connectNats(nats.url, loadConfig({ ...base, NATS_TLS_CA: cert }), "sluice:up", quiet).then(() => "connected", (e: Error) => e.message);
    assert.is.not(noClientCert, "connected", "without a client certificate the server refuses");

    const nc = await connectNats(nats.url, loadConfig({ ...base, NATS_TLS_CA: cert, NATS_TLS_CERT: cert, NATS_TLS_KEY: key }), "sluice:up", quiet);
    try {
      assert.ok((await (await jetstreamManager(nc)).getAccountInfo()).limits, "admin over TLS");
    } finally {
      await closeNats(nc);
    }
  } finally {
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

// Protection is on by default: `sluice up` with no keyring configured creates one in the state dir
// (mode 0600, said in the log and the banner), the registry holds the shipped v2 schemas, and a
// payment's card number is stored as a token. A second start keeps the keyring.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { NatsServer } from "../harness/nats-server.ts";
import { SluiceProcess, sqlOverNats } from "../harness/sluice-process.ts";
import { waitFor } from "../harness/wait.ts";
import { luhn } from "../../pii/index.ts";

const CARD = (() => {
  for (let d = 0; d <= 9; d++) if (luhn(`535522001234567${d}`)) return `535522001234567${d}`;
  throw new Error("no check digit");
})();

test("first `sluice up` creates the keyring (0600, logged, in the banner); cards are stored as tokens; the next start keeps the keyring", async () => {
  const nats = await NatsServer.start();
  const nc = await connect({ servers: nats.url });
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-up-keys-"));
  const keyring = join(stateDir, "keys", "keyring.json");
  // No keyring configured (the harness would otherwise pass its test keys).
  const env = { NATS_URL: nats.url, SLUICE_STATE_DIR: stateDir, SLUICE_API_PORT: "0", SLUICE_LOG_LEVEL: "info", SLUICE_PII_KEYS: "" };
  const up = async () => {
    const p = SluiceProcess.start(["up", "--no-generate"], env);
    await waitFor(async () => p.output, (out) => /sluice is up/.test(out) || p.child.exitCode !== null, 90_000, 100);
    assert.match(p.output, /sluice is up/, p.output);
    return p;
  };
  let running: SluiceProcess | undefined;
  try {
    running = await up();
    assert.match(running.output, new RegExp(`PII keyring created at ${keyring.replace(/[.]/g, "\\.")} \\(mode 0600\\)`));
    assert.match(running.output, new RegExp(`PII keys\\s+${keyring.replace(/[.]/g, "\\.")} \\(created now\\)`));
    assert.is(statSync(keyring).mode & 0o777, 0o600);
    const written = readFileSync(keyring, "utf8");

    nc.publish("raw.txn.cust-1", JSON.stringify({ event_id: "up-pay-1", customer_id: "cust-1", merchant_id: "m-1", amount: 3, currency: "EUR", card_number: CARD, ts: new Date().toISOString() }));
    const rows = await waitFor(() => sqlOverNats(nc, "SELECT schema_version, payload FROM sluice.events FINAL WHERE event_id = 'up-pay-1'"), (r) => r.length === 1, 60_000);
    const [[version, payload]] = rows as Array<[number, string]>;
    assert.is(Number(version), 2, "an unversioned payment is read as the current, shipped v2");
    assert.ok(String(JSON.parse(payload).card_number).startsWith("tok_") && !payload.includes(CARD), payload);
    assert.is(await running.kill("SIGTERM"), 0, running.output);

    running = await up();
    assert.not.match(running.output, /PII keyring created/);
    assert.match(running.output, new RegExp(`PII keys\\s+${keyring.replace(/[.]/g, "\\.")}\\n`));
    assert.is(readFileSync(keyring, "utf8"), written, "the keyring is kept");
  } finally {
    await running?.kill("SIGTERM");
    await nc.close();
    await nats.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test.run();

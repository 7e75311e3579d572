// `sluice deploy nats-config` writes an authorization nats-server accepts, with a user for every
// process of actors and role, and keeps the secrets when run again (only permissions change).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ACTOR_NAMES } from "../../actors/pipeline.ts";

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));
const DEPLOY_CONF = fileURLToPath(new URL("../../deploy/nats-server.conf", import.meta.url));

function deploy(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [BIN, "deploy", "nats-config", ...args], { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test("deploy/nats-server.conf with the generated auth.conf is valid; a user per actor and role; secrets kept on a second run", () => {
  const out = mkdtempSync(join(tmpdir(), "sluice-deploy-nats-"));
  try {
    const first = deploy("--out", out, "--process", "window,detect");
    assert.is(first.status, 0, first.out);
    const stored = (user: string) => JSON.parse(readFileSync(join(out, "credentials", `${user}.json`), "utf8")) as { nkey: string; password?: string };
    for (const actor of ACTOR_NAMES) assert.ok(stored(`actor-${actor}`).nkey.startsWith("U"), `a user for ${actor}`);
    for (const role of ["producer", "operator", "reader", "admin", "api", "generator", "pipeline", "actors-detect+window"]) assert.ok(stored(role).nkey, role);
    assert.ok(stored("producer").password, "the producer has a password");
    assert.is(statSync(join(out, "auth.conf")).mode & 0o777, 0o600);
    const before = { nkey: stored("actor-validate").nkey, password: stored("producer").password };

    // The compose config, its store moved here; 2.9 has no sync_interval (deploy/README.md says so).
    const conf = readFileSync(DEPLOY_CONF, "utf8").replace(/^\s*sync_interval:.*$/m, "").replace('store_dir: "/data"', `store_dir: "${join(out, "store")}"`);
    writeFileSync(join(out, "nats-server.conf"), conf);
    const check = spawnSync("nats-server", ["-t", "-c", join(out, "nats-server.conf")], { encoding: "utf8" });
    assert.is(check.status, 0, `${check.stdout}${check.stderr}`);

    const again = deploy("--out", out, "--tls-cert", join(out, "c.pem"), "--tls-key", join(out, "k.pem"));
    assert.is(again.status, 0, again.out);
    assert.equal({ nkey: stored("actor-validate").nkey, password: stored("producer").password }, before, "secrets kept");
    assert.match(readFileSync(join(out, "auth.conf"), "utf8"), /tls \{\n\s+"cert_file": /);
    const bad = deploy("--out", out, "--process", "window,nope");
    assert.is.not(bad.status, 0);
    assert.match(bad.out, /unknown actor nope/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test.run();

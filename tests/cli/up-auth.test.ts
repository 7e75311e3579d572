// `sluice up` with its own nats-server runs it with authorization by default: every actor process
// signs in as its own generated user, the banner's `nats pub` lines work as printed (credentials
// included), `sluice creds show` prints the same, secrets are files of mode 0600, and the server
// config holds no password in clear.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { waitFor } from "../harness/wait.ts";
import { withDeadline } from "../../nats/deadline.ts";

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));
const test = suite<{ stateDir: string }>("sluice up with NATS authorization");

test.before((ctx) => {
  ctx.stateDir = mkdtempSync(join(tmpdir(), "sluice-up-auth-"));
});
test.after((ctx) => rmSync(ctx.stateDir, { recursive: true, force: true }));

/** Splits a shell line the way sh does for these examples: words, and single-quoted strings. */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]);
}

/** What `nats pub [-s URL] [--user U --password P] SUBJECT BODY [--count N]` does: render the templates, core-publish. */
async function natsPub(line: string): Promise<{ subject: string; user?: string }> {
  const args = words(line.trim()).slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i < 0 ? undefined : args.splice(i, 2)[1];
  };
  const server = flag("-s") ?? "nats://127.0.0.1:4222";
  const user = flag("--user");
  const pass = flag("--password");
  const count = Number(flag("--count") ?? 1);
  assert.is(args.length, 2, `unexpected words in: ${line}`);
  const [subject, template] = args;
  const nc = await connect({ servers: server, user, pass });
  for (let i = 0; i < count; i++) nc.publish(subject, template.replace("{{TimeStamp}}", new Date().toISOString()).replace("{{Unix}}", String(Math.floor(Date.now() / 1000))));
  await withDeadline(nc.flush(), { what: "nats pub flush" });
  await nc.close();
  return { subject, user };
}

function sluice(stateDir: string, ...args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, SLUICE_STATE_DIR: stateDir, NATS_URL: "" }, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test("the banner's nats pub works as printed; the actors run as their own users; secrets are 0600 and hashed in the server config", async ({ stateDir }) => {
  const up = SluiceProcess.start(["up", "--split", "--no-generate"], { NATS_URL: "", SLUICE_STATE_DIR: stateDir, SLUICE_API_PORT: "0", SLUICE_LOG_LEVEL: "info" });
  try {
    await waitFor(async () => up.output, (out) => /sluice is up/.test(out) || up.child.exitCode !== null, 120_000, 100);
    assert.match(up.output, /sluice is up/, up.output.slice(-3000));
    const pubs = up.output.split("\n").filter((l) => l.trim().startsWith("nats pub"));
    assert.is(pubs.length, 2, up.output);
    const { subject, user } = await natsPub(pubs[0]);
    assert.is(user, "producer", "the banner signs in as the producer");
    const key = subject.split(".").slice(2).join(".");
    const count = () => {
      const r = sluice(stateDir, "sql", `SELECT count() FROM sluice.events FINAL WHERE key = '${key}'`, "--format", "json");
      return Promise.resolve(r.status === 0 ? Number(/"count\(\)":\s*"?(\d+)/.exec(r.out)?.[1] ?? 0) : 0);
    };
    assert.is(await waitFor(count, (n) => n >= 1, 90_000, 500), 1, up.output.slice(-3000));

    // The same credentials from the state dir.
    const shown = JSON.parse(sluice(stateDir, "creds", "show", "producer", "--format", "json").out) as { user: string; password: string };
    assert.ok(pubs[0].includes(`--user ${shown.user} --password ${shown.password}`), "sluice creds show producer prints the banner's credentials");
    const asEnv = sluice(stateDir, "creds", "show", "producer", "--format", "env").out;
    assert.ok(asEnv.includes(`export NATS_USER=producer\nexport NATS_PASSWORD=${shown.password}\n`), asEnv);
    const dir = join(stateDir, "nats-credentials");
    assert.is(statSync(dir).mode & 0o777, 0o700);
    for (const f of readdirSync(dir)) assert.is(statSync(join(dir, f)).mode & 0o777, 0o600, `${f} is mode 0600`);
    const serverAuth = readFileSync(join(stateDir, "nats", "auth.conf"), "utf8");
    assert.not.ok(serverAuth.includes(shown.password), "the server config holds no password in clear");
    assert.match(serverAuth, /"password": "\$2a\$11\$/);

    // The operator's commands: a dead letter replayed, the replay recorded in sluice.audit over NATS.
    await natsPub(`nats pub ${pubs[0].includes(" -s ") ? `-s ${/-s (\S+)/.exec(pubs[0])![1]} ` : ""}--user producer --password ${shown.password} raw.iot.auth-bad '{"sensor_id":"auth-bad","ts":"2026-11-27T10:00:00Z","temperature":"warm"}'`);
    await waitFor(async () => sluice(stateDir, "dlq", "ls").out, (out) => out.includes("raw.iot.auth-bad"), 60_000, 500);
    const replay = sluice(stateDir, "dlq", "replay", "--all");
    assert.is(replay.status, 0, replay.out);
    assert.match(replay.out, /replayed 1 of 1/);
    assert.not.match(replay.out, /not recorded|refused/, "the replay is recorded");
    const audited = sluice(stateDir, "sql", "SELECT count() FROM sluice.audit WHERE action = 'dlq.replay'", "--format", "json");
    assert.match(audited.out, /"count\(\)":\s*"?1/, audited.out);

    // Every actor process connected as its own user and nothing was refused; the server agrees.
    assert.not.match(up.output, /NATS refused|Permissions Violation|Authorization Violation/);
    const serverLog = readFileSync(join(stateDir, "nats", "nats-server.log"), "utf8");
    assert.not.match(serverLog, /Violation/, serverLog.split("\n").filter((l) => /Violation/.test(l)).slice(0, 5).join("\n"));
    // Without credentials a client is turned away.
    const url = /NATS\s+(nats:\/\/\S+)/.exec(up.output)![1];
    const anonymous = await connect({ servers: url, reconnect: false }).then((nc) => nc.close().then(() => "connected"), (e: Error) => e.message);
    assert.match(anonymous, /Authorization Violation/i);

    const code = await up.kill("SIGTERM");
    assert.is(code, 0, up.output.slice(-3000));
  } finally {
    await up.kill("SIGKILL");
  }
});

test.run();

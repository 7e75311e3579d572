// Bearer tokens with roles on the HTTP API, made and revoked by the real `sluice api token`
// command: no token → 401, a viewer replaying → 403, a revoked token → 401, each with a clear
// body and counted; open probes; the rate limit; and the dashboard's login box in chromium.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import type { OpenClickHouse } from "../../clickhouse/index.ts";
import { denialCount } from "../../auth/denials.ts";
import { tokensPath, watchTokens } from "../../auth/tokens.ts";
import { serveApi, type ServedApi } from "../../api/serve.ts";
import { appOver, seededClickHouse } from "../api/fixtures.ts";
import { launchChromium } from "../browser/chromium.ts";

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));

const test = suite<{ ch: OpenClickHouse; cleanup: () => Promise<void>; stateDir: string; viewer: string; operator: string; browser?: Browser; api?: ServedApi }>("api bearer tokens");

function sluiceApi(stateDir: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, "api", ...args], { encoding: "utf8", timeout: 30_000, env: { ...process.env, SLUICE_STATE_DIR: stateDir, SLUICE_LOG_LEVEL: "warn" } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function create(stateDir: string, role: string, name: string): string {
  const r = sluiceApi(stateDir, ["token", "create", "--role", role, "--name", name]);
  assert.is(r.status, 0, r.stderr);
  const token = r.stdout.trim();
  assert.match(token, /^sluice_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
  return token;
}

test.before(async (ctx) => {
  const seeded = await seededClickHouse();
  ctx.ch = seeded.ch;
  ctx.cleanup = seeded.cleanup;
  ctx.stateDir = mkdtempSync(join(tmpdir(), "sluice-tokens-"));
  ctx.viewer = create(ctx.stateDir, "viewer", "grafana");
  ctx.operator = create(ctx.stateDir, "operator", "oncall");
});
test.after(async (ctx) => {
  await ctx.browser?.close();
  await ctx.api?.close();
  await ctx.cleanup?.();
  rmSync(ctx.stateDir, { recursive: true, force: true });
});

const app = (ctx: { ch: OpenClickHouse; stateDir: string }, over: { metricsAuth?: boolean; ratePerSecond?: number; required?: boolean; stateDir?: string } = {}) =>
  appOver(ctx.ch, { auth: { tokens: watchTokens(tokensPath(over.stateDir ?? ctx.stateDir), 0), metricsAuth: over.metricsAuth, ratePerSecond: over.ratePerSecond, required: over.required } });
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const errorOf = async (res: Response) => ((await res.json()) as { error: { field: string; message: string; hint: string } }).error;

test("only hashes are stored, mode 0600", ({ stateDir, viewer, operator }) => {
  const path = tokensPath(stateDir);
  assert.is(statSync(path).mode & 0o777, 0o600);
  const text = readFileSync(path, "utf8");
  assert.not.ok(text.includes(viewer) || text.includes(operator), "a token in the file");
  assert.match(sluiceApi(stateDir, ["token", "ls"]).stdout, /viewer\s+grafana[\s\S]*operator\s+oncall/);
});

test("no token or an unknown one → 401 with a hint and a challenge; counted", async (ctx) => {
  const api = app(ctx);
  const before = denialCount("api", "no_token");
  const res = await api.request("/v1/anomalies?since=1h");
  assert.is(res.status, 401);
  assert.is(res.headers.get("www-authenticate"), 'Bearer realm="sluice"');
  const e = await errorOf(res);
  assert.is(e.field, "authorization");
  assert.is(e.message, "a bearer token is required");
  assert.match(e.hint, /sluice api token create --role viewer/);
  assert.is(denialCount("api", "no_token"), before + 1);
  const forged = ctx.viewer.slice(0, -4) + "AAAA";
  const unknown = await api.request("/v1/anomalies?since=1h", bearer(forged));
  assert.is(unknown.status, 401);
  assert.match((await errorOf(unknown)).message, /not one this API issued/);
  assert.is(denialCount("api", "unknown_token") >= 1, true);
});

test("a viewer reads and scores but may not replay (403); an operator may", async (ctx) => {
  const api = app(ctx);
  assert.is((await api.request("/v1/anomalies?since=1h", bearer(ctx.viewer))).status, 200);
  const predict = await api.request("/v1/predict", { method: "POST", headers: { authorization: `Bearer ${ctx.viewer}`, "content-type": "application/json" }, body: JSON.stringify({ series: "t", timestamp: 1, value: 1 }) });
  assert.is(predict.status, 200);
  const before = denialCount("api", "role");
  const replay = await api.request("/v1/dlq/1/replay", { method: "POST", ...bearer(ctx.viewer) });
  assert.is(replay.status, 403);
  const e = await errorOf(replay);
  assert.is(e.message, "the viewer role may not POST /v1/dlq/1/replay; it needs operator");
  assert.match(e.hint, /--role operator/);
  assert.is(denialCount("api", "role"), before + 1);
  // Past authorization: this app has no DLQ, so the route itself answers 404.
  assert.is((await api.request("/v1/dlq/1/replay", { method: "POST", ...bearer(ctx.operator) })).status, 404);
});

test("a revoked token → 401 saying so, at once for a running API", async (ctx) => {
  const api = app(ctx);
  const temp = create(ctx.stateDir, "viewer", "temp");
  assert.is((await api.request("/v1/anomalies?since=1h", bearer(temp))).status, 200);
  const r = sluiceApi(ctx.stateDir, ["token", "revoke", "temp"]);
  assert.is(r.status, 0, r.stderr);
  const before = denialCount("api", "revoked");
  const res = await api.request("/v1/anomalies?since=1h", bearer(temp));
  assert.is(res.status, 401);
  assert.match((await errorOf(res)).message, /^token [0-9a-f]{8} \(temp\) was revoked at /);
  assert.is(denialCount("api", "revoked"), before + 1);
  assert.is((await api.request("/v1/anomalies?since=1h", bearer(ctx.viewer))).status, 200, "other tokens still work");
});

test("probes and the dashboard's files are open; /metrics too unless configured; no token file means open unless required", async (ctx) => {
  const api = app(ctx);
  for (const path of ["/healthz", "/readyz", "/ui/", "/ui/app.js", "/openapi.json", "/metrics"]) assert.is((await api.request(path)).status, 200, path);
  const metrics = await (await api.request("/metrics")).text();
  assert.match(metrics, /sluice_denied_total\{surface="api",reason="no_token"\} \d+/);
  assert.is((await app(ctx, { metricsAuth: true }).request("/metrics")).status, 401);
  assert.is((await app(ctx, { metricsAuth: true }).request("/metrics", bearer(ctx.viewer))).status, 200);
  const empty = mkdtempSync(join(tmpdir(), "sluice-tokens-none-"));
  try {
    assert.is((await app(ctx, { stateDir: empty }).request("/v1/anomalies?since=1h")).status, 200);
    assert.is((await app(ctx, { stateDir: empty, required: true }).request("/v1/anomalies?since=1h")).status, 401);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test("each token has its own rate limit: past it 429 with retry-after", async (ctx) => {
  const api = app(ctx, { ratePerSecond: 2 });
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) statuses.push((await api.request("/v1/reports", bearer(ctx.viewer))).status);
  assert.ok(statuses.includes(429), `statuses ${statuses}`);
  const limited = await api.request("/v1/reports", bearer(ctx.viewer));
  assert.is(limited.status, 429);
  assert.ok(Number(limited.headers.get("retry-after")) >= 1);
  assert.is((await api.request("/v1/reports", bearer(ctx.operator))).status, 200, "another token is not limited by this one");
});

test("the dashboard asks for a token on 401, keeps it, and then loads", async (ctx) => {
  ctx.api = await serveApi(app(ctx), 0);
  ctx.browser = await launchChromium();
  const page = await ctx.browser.newPage();
  await page.goto(`${ctx.api.url}/ui/`);
  const login = page.getByTestId("login");
  await login.waitFor({ timeout: 20_000 });
  assert.match(await login.innerText(), /a bearer token is required/);
  await page.getByTestId("login-token").fill(ctx.viewer);
  const answered: Array<{ path: string; status: number; auth: string | null }> = [];
  page.on("response", (r) => {
    const url = new URL(r.url());
    if (url.pathname.startsWith("/v1/")) answered.push({ path: url.pathname, status: r.status(), auth: r.request().headers().authorization ?? null });
  });
  await Promise.all([page.waitForEvent("load", { timeout: 20_000 }), page.locator("#login button").click()]);
  assert.is(await page.evaluate("localStorage.getItem('sluice.apiToken')"), ctx.viewer);
  // Signed in: the page's own API calls carry the token and are answered.
  const deadline = Date.now() + 20_000;
  while (!answered.some((a) => a.path === "/v1/pipeline" && a.status === 200) && Date.now() < deadline) await page.waitForTimeout(100);
  const pipeline = answered.find((a) => a.path === "/v1/pipeline");
  assert.is(pipeline?.status, 200, JSON.stringify(answered));
  assert.is(pipeline?.auth, `Bearer ${ctx.viewer}`);
  assert.not.ok(answered.some((a) => a.status === 401), JSON.stringify(answered));
  assert.is(await page.locator("#login").count(), 0);
});

test.run();

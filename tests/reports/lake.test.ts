// A report's files in the lake through the lake store: byte for byte (a PDF is binary), on a local
// directory and on a real S3-compatible server (s3rver), and a rerun of the period replaces them.
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { LakeStore, openMemoryEngine, parseLakeUrl, type LakeEngine } from "../../lake/index.ts";
import { S3rver } from "../lake/s3rver.ts";

const test = suite<{ engine: LakeEngine; s3: S3rver }>("reports in the lake");
const KEY = "reports/date=2026-12-01/pipeline-20261201T060000Z.pdf";
// Every byte value, NUL, CR, LF, tab, backslash and quote among them: nothing may be escaped on the way.
const BINARY = Buffer.concat([Buffer.from("%PDF-1.7\n"), Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from("\r\n\t\\'\"")]);

test.before(async (ctx) => {
  ctx.engine = await openMemoryEngine();
  ctx.s3 = await S3rver.start("lake");
});

test.after(async (ctx) => {
  await ctx.engine?.close();
  await ctx.s3?.stop();
});

test("local directory: the bytes as written, under a temp name first, the same key rewritten in place", async ({ engine }) => {
  const root = mkdtempSync(join(tmpdir(), "sluice-report-lake-"));
  const store = new LakeStore(parseLakeUrl(root), engine.client);
  await store.putObject(KEY, BINARY);
  assert.ok(readFileSync(join(root, KEY)).equals(BINARY));
  await store.putObject(KEY, "<!doctype html>second");
  assert.is(readFileSync(join(root, KEY), "utf8"), "<!doctype html>second");
  assert.equal(readdirSync(join(root, "reports", "date=2026-12-01")), ["pipeline-20261201T060000Z.pdf"], "no temp file left");
});

test("s3rver: the object holds the bytes as written; a rewrite replaces it", async ({ engine, s3 }) => {
  const store = new LakeStore(parseLakeUrl("s3://lake/prod", { endpoint: s3.endpoint, accessKeyId: "S3RVER", secretAccessKey: "S3RVER" }), engine.client);
  await store.putObject(KEY, BINARY);
  const url = `${s3.endpoint}/lake/prod/${KEY}`;
  assert.ok(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(BINARY));
  await store.putObject(KEY, "second");
  assert.is(await (await fetch(url)).text(), "second");
});

test.run();

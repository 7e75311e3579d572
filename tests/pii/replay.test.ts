// A dead letter of a source with PII rules carries the message protected, so replaying its body
// would feed validate tokens instead of card numbers: `sluice dlq replay` republishes the original
// from RAW by the sequence the dead letter records, and refuses (naming the sequence and RAW's
// retention) when RAW no longer holds it. A source without rules still replays from its copy.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../harness/nats-server.ts";
import { publishAll, startTestPipeline, streamCount, type TestPipeline } from "../harness/pipeline.ts";
import { streamMessages } from "../harness/run-snapshot.ts";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { TEST_PII_KEYS } from "../harness/keyring.ts";
import { waitFor } from "../harness/wait.ts";
import { listDeadLetters, replayDeadLetters, type DeadLetter } from "../../api/dlq.ts";
import { openReferenceBucket } from "../../enrich/index.ts";
import { luhn, parseKeyring, tokenize } from "../../pii/index.ts";
import { withDeadline } from "../../nats/deadline.ts";

const CARD = (() => {
  for (let d = 0; d <= 9; d++) if (luhn(`492912345678901${d}`)) return `492912345678901${d}`;
  throw new Error("no check digit");
})();
const EMAIL = "grace.hopper@example.net";
const PHONE = "+15550100777";
const CLEAR = [CARD, EMAIL, PHONE];

const test = suite<{ nats: NatsServer; nc: NatsConnection; pipeline: TestPipeline }>("dlq replay of protected dead letters");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  // A payment whose merchant has no reference entry is dead-lettered: fixable by `sluice ref put`, then a replay.
  // (A kind whose bucket is empty is not enriched at all, hence one entry before the start.)
  const merchants = await openReferenceBucket(ctx.nc, "merchants");
  await withDeadline(merchants.put("m-known", JSON.stringify({ category: "grocery" })), { what: "put m-known" });
  ctx.pipeline = await startTestPipeline(ctx.nats.url, { actors: ["validate"], env: { SLUICE_MISSING_REFERENCE: "txn=dead_letter" } });
});

test.after(async (ctx) => {
  await ctx.pipeline?.cleanup();
  await ctx.nc?.close();
  await ctx.nats?.stop();
});

const payment = (id: string, merchant: string) => ({
  subject: "raw.txn.cust-7",
  body: JSON.stringify({ event_id: id, customer_id: "cust-7", merchant_id: merchant, amount: 9.5, currency: "USD", card_number: CARD, email: EMAIL, phone: PHONE, ts: new Date(Date.now() - 10_000).toISOString() }),
});

async function deadLetterOf(nc: NatsConnection, eventId: string): Promise<DeadLetter> {
  const found = await waitFor(() => listDeadLetters(nc, { source: "txn" }), (l) => l.some((d) => new TextDecoder().decode(d.data).includes(`"${eventId}"`)), 30_000);
  const dl = found.find((d) => new TextDecoder().decode(d.data).includes(`"${eventId}"`));
  assert.ok(dl, `${eventId} was dead-lettered`);
  return dl!;
}

const eventBodies = async (nc: NatsConnection, eventId: string) => (await streamMessages(nc, "EVENTS")).filter((m) => m.data.includes(`"event_id":"${eventId}"`));

test("the dead letter's body is protected; the replay republishes RAW's original, which validates into the token of the clear card", async ({ nc }) => {
  await publishAll(nc, [payment("pay-unknown-merchant", "m-new")]);
  const dl = await deadLetterOf(nc, "pay-unknown-merchant");
  assert.is(dl.code, "missing_reference");
  const body = new TextDecoder().decode(dl.data);
  for (const value of CLEAR) assert.not.ok(body.includes(value) || dl.reason.includes(value), "the dead letter holds no clear value");
  const ring = parseKeyring(TEST_PII_KEYS, "test keys");
  assert.is(JSON.parse(body).card_number, tokenize(CARD, ring.tokenKey), "the body's card number is the token");

  // The fix, then a probe until validate's reference cache has it.
  const merchants = await openReferenceBucket(nc, "merchants");
  await withDeadline(merchants.put("m-new", JSON.stringify({ category: "books" })), { what: "put m-new" });
  let probe = 0;
  await waitFor(async () => {
    const id = `probe-${++probe}`;
    await publishAll(nc, [payment(id, "m-new")]);
    return waitFor(() => eventBodies(nc, id), (b) => b.length > 0, 2_000, 200);
  }, (b) => b.length > 0, 30_000, 0);

  const rawBefore = await streamCount(nc, "RAW");
  const [result] = await replayDeadLetters(nc, [dl]);
  assert.is(result.error, undefined);
  const raw = await streamMessages(nc, "RAW");
  assert.is(raw.length, rawBefore + 1);
  assert.is(raw[raw.length - 1].data, raw.find((m) => m.seq === dl.originalSeq)!.data, "the replay is RAW's original, byte for byte");
  const [event] = await waitFor(() => eventBodies(nc, "pay-unknown-merchant"), (b) => b.length > 0, 30_000);
  const payload = JSON.parse(event.data).payload as Record<string, unknown>;
  assert.is(payload.card_number, tokenize(CARD, ring.tokenKey), "tokenized once, from the clear card (a replayed token would fail the schema's digits pattern)");
  assert.is(payload.merchant_category, "books");
});

test("RAW no longer holds the original: the protected letter is refused naming the sequence and the retention; an iot letter replays from its copy", async ({ nats, nc }) => {
  await publishAll(nc, [payment("pay-expired", "m-gone"), { subject: "raw.iot.s-9", body: JSON.stringify({ sensor_id: "s-9", ts: new Date().toISOString(), temperature: "warm" }) }]);
  const txn = await deadLetterOf(nc, "pay-expired");
  const iot = await waitFor(() => listDeadLetters(nc, { source: "iot" }), (l) => l.some((d) => d.originalSubject === "raw.iot.s-9"), 30_000).then((l) => l.find((d) => d.originalSubject === "raw.iot.s-9")!);
  const jsm = await jetstreamManager(nc);
  // What RAW's max_age does after 24 h.
  for (const dl of [txn, iot]) await jsm.streams.deleteMessage("RAW", dl.originalSeq);

  const rawBefore = await streamCount(nc, "RAW");
  const [refused, copied] = await replayDeadLetters(nc, [txn, iot]);
  assert.match(refused.error ?? "", new RegExp(`not replayed: RAW no longer holds seq ${txn.originalSeq} \\(RAW keeps messages 24 h: SLUICE_RAW_MAX_AGE_HOURS\\).*personal fields protected`));
  assert.is(copied.error, undefined, "iot's schemas protect nothing: its copy is the original");
  assert.is(await streamCount(nc, "RAW"), rawBefore + 1, "only the iot reading was republished");

  // The command says the same and exits 1.
  const cli = SluiceProcess.start(["dlq", "replay", String(txn.id)], { NATS_URL: nats.url, SLUICE_LOG_LEVEL: "warn" });
  const code = await new Promise<number | null>((resolve) => cli.child.once("exit", resolve));
  assert.is(code, 1, cli.output);
  assert.match(cli.output, new RegExp(`dead letter ${txn.id}: not replayed: RAW no longer holds seq ${txn.originalSeq}`));
  assert.match(cli.output, /replayed 0 of 1 dead letters/);
});

test.run();

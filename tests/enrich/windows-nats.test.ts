// Windows grouped by an enriched field, end to end through NATS: payments published on RAW, the
// ingest chain adds merchant_category from the merchants bucket (and protects the card), the window
// actor groups by it, and AGG and sluice.windows hold one row per category and minute.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect } from "@nats-io/transport-node";
import { NatsServer } from "../harness/nats-server.ts";
import { publishAll, startTestPipeline } from "../harness/pipeline.ts";
import { streamMessages } from "../harness/run-snapshot.ts";
import { waitFor } from "../harness/wait.ts";
import { openReferenceBucket } from "../../enrich/index.ts";
import { withDeadline } from "../../nats/deadline.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { windowActor } from "../../actors/window/index.ts";
import { defaultWindowConfig, type WindowConfig, type WindowResult } from "../../windowing/index.ts";

const MINUTE = 60_000;

/** The shipped config, with txn's 1-minute windows also per merchant category (an enriched field). */
const config: WindowConfig = {
  ...defaultWindowConfig,
  sources: {
    ...defaultWindowConfig.sources,
    txn: {
      ...defaultWindowConfig.sources.txn!,
      outOfOrdernessMs: 0,
      groups: [...defaultWindowConfig.sources.txn!.groups, { name: "category", field: "merchant_category", distinct: "merchant_id" }],
      windows: [{ kind: "tumbling", sizeMs: MINUTE, groups: ["category"] }],
    },
  },
};

test("payments → validate (enrich, protect) → EVENTS → window per merchant_category → AGG and sluice.windows", async () => {
  const nats = await NatsServer.start();
  const nc = await connect({ servers: nats.url });
  const controller = new AbortController();
  let windows: Promise<void> | undefined;
  const pipeline = await (async () => {
    const merchants = await openReferenceBucket(nc, "merchants");
    for (const [id, category] of [["m-1", "grocery"], ["m-2", "grocery"], ["m-3", "fuel"]]) await withDeadline(merchants.put(id, JSON.stringify({ category, country: "DE" })), { what: `put ${id}` });
    return startTestPipeline(nats.url, { actors: ["validate", "clickhouse-sink-agg"], env: { SLUICE_PARTITIONS: "1", SLUICE_SINK_BATCH_MS: "100" } });
  })();
  try {
    windows = windowActor({ partitions: 1, config, rebalanceMs: 100 }).run({ nc, log: createLogger("warn"), signal: controller.signal });
    const t0 = Math.floor((Date.now() - 10 * MINUTE) / MINUTE) * MINUTE;
    const pay = (customer: string, merchant: string, amount: number, at: number) => ({
      subject: `raw.txn.${customer}`,
      body: JSON.stringify({ customer_id: customer, merchant_id: merchant, amount, currency: "EUR", card_number: "4111111111111111", ts: new Date(at).toISOString() }),
    });
    await publishAll(nc, [pay("c-1", "m-1", 10, t0 + 1_000), pay("c-2", "m-2", 5, t0 + 2_000), pay("c-1", "m-3", 60, t0 + 3_000)]);
    // A later payment moves the watermark past the minute, which closes its windows.
    await publishAll(nc, [pay("c-9", "m-3", 1, t0 + 2 * MINUTE)]);

    const perCategory = async () => {
      const rows = (await streamMessages(nc, "AGG")).map((m) => JSON.parse(m.data) as WindowResult).filter((r) => r.source === "txn" && r.window_start === t0 && r.key.startsWith("category="));
      return Object.fromEntries(rows.map((r) => [r.key, [r.count, r.sum, r.distinct_count]]));
    };
    const agg = await waitFor(perCategory, (r) => Object.keys(r).length === 2, 60_000);
    assert.equal(agg, { "category=grocery": [2, 15, 2], "category=fuel": [1, 60, 1] }, "one AGG row per category: grocery from m-1 and m-2, fuel from m-3");

    const stored = await waitFor(async () => (await pipeline.clickhouse!.client.query({ query: `SELECT key, count, sum FROM sluice.windows WHERE source = 'txn' AND key LIKE 'category=%' AND toUnixTimestamp64Milli(window_start) = ${t0} ORDER BY key`, format: "JSONEachRow" })).json<{ key: string; count: number | string; sum: number }>(), (r) => r.length === 2, 30_000);
    assert.equal(stored.map((r) => [r.key, Number(r.count), Number(r.sum)]), [["category=fuel", 1, 60], ["category=grocery", 2, 15]]);
    const events = (await streamMessages(nc, "EVENTS")).map((m) => JSON.parse(m.data) as { payload: Record<string, unknown> });
    assert.ok(events.every((e) => String(e.payload.card_number).startsWith("tok_") && typeof e.payload.merchant_ref_rev === "number"), "enriched and protected on the way");
  } finally {
    controller.abort();
    await windows;
    await pipeline.cleanup();
    await nc.close();
    await nats.stop();
  }
});

test.run();

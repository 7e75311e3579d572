// The throughput benchmarks on a tiny input, so they never rot: each runs end to end and its
// summary counts what it was given. Speed is not asserted (that is what `npm run bench*` is for).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { main as peer } from "../../bench/peer.ts";
import { main as pipeline } from "../../bench/pipeline.ts";
import { parseSummary, type BenchSummary } from "../../bench/report.ts";

const test = suite("bench: peer and end to end");

const positive = (s: BenchSummary, ...fields: string[]) => {
  for (const f of fields) assert.ok(Number(s[f]) > 0 && Number.isFinite(Number(s[f])), `${s.name}.${f} = ${String(s[f])}`);
};

test("the summary line is the last BENCH line of the output", () => {
  const s = parseSummary(`noise\nBENCH {"name":"a","events_per_s":1}\nBENCH {"name":"b","events_per_s":2}\ntrailing`);
  assert.equal(s, { name: "b", events_per_s: 2 });
  assert.is(parseSummary("no summary here"), undefined);
});

test("peer: the hand-written loop, sluice on the same job and with every actor on each store every reading", async () => {
  const s = await peer({ events: 400 });
  assert.is(s.name, "peer");
  assert.is(s.events, 400);
  positive(s, "events_per_s", "baseline", "ratio", "all_actors_per_s", "all_actors_ratio", "nats_baseline");
});

test("pipeline in process: every event becomes a row, with the baseline and ratio", async () => {
  const s = await pipeline({ events: 400, modes: ["in-process"] });
  assert.is(s.events, 400);
  positive(s, "events_per_s", "baseline", "ratio");
  assert.is(s.split_events_per_s, undefined);
});

test.run();

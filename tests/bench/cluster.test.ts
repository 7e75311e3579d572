// bench:cluster on a tiny input, so it never rots: one node and a 3-node cluster each carry every
// event into sluice.events, and the summary has both rates and their ratio. Speed is not asserted.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { main } from "../../bench/cluster.ts";

test("cluster: end to end on 1 node and on 3 nodes, with the acked publish rates and ratios", async () => {
  const s = await main({ events: 300, repeat: 1 });
  assert.is(s.name, "cluster");
  assert.is(s.events, 300);
  for (const f of ["events_per_s", "baseline", "ratio", "publish_per_s", "publish_baseline", "publish_ratio"]) {
    assert.ok(Number(s[f]) > 0 && Number.isFinite(Number(s[f])), `cluster.${f} = ${String(s[f])}`);
  }
  assert.is(s.sync_default_events_per_s, undefined, "no sync comparison without --sync-server");
});

test.run();

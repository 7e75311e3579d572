// The API load benchmark on a tiny input: sluice up ingests at half its maximum while autocannon
// drives each read route, and every route answers 2xx; neither speed nor the ingest drop is asserted.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { main as apiLoad, ROUTES } from "../../bench/api-load.ts";

const test = suite("bench: api load");

test("api load: every route answers under load while the pipeline ingests", async () => {
  const s = await apiLoad({ events: 1_000, seconds: 2, connections: 2 });
  const routes = s.routes as Array<{ route: string; ok: number; non2xx: number; errors: number; ingest_per_s: number; requests_per_s: number }>;
  assert.equal(routes.map((r) => r.route), Object.keys(ROUTES));
  for (const r of routes) {
    assert.ok(r.ok > 0, `${r.route}: no 2xx answer`);
    assert.is(r.non2xx, 0, `${r.route}: ${r.non2xx} non-2xx answers`);
    assert.ok(r.ingest_per_s > 0, `${r.route}: nothing ingested meanwhile`);
  }
  assert.ok(Number(s.baseline) > 0 && Number(s.maximum) > 0);
});

test.run();

// Hashes of detection's alerts and of its final state over generated streams: a change meant to
// leave every score as it was (speed, state layout) must print the same lines before and after.
//   node --import tsx tests/detect/exact-hash.ts [--seeds 1,2,13] [--events 50000,60000,60000]
// Seed 1 is also run with a snapshot, JSON round trip and restore half way (it must hash the same).
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { createDetection, toEnvelope } from "../../actors/detect/index.ts";
import { createGenerator } from "../../actors/generate/index.ts";

const sha = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 16);

export function detectionHashes(seed: number, events: number, restoreAt?: number): { alerts: number; alertsSha: string; stateSha: string } {
  const envelopes = createGenerator({ seed, sources: ["iot", "social", "txn"], anomalyRate: 0.02, intervalMs: 500 }).take(events).map((e, i) => toEnvelope(e, i + 1));
  let detection = createDetection({ now: () => 0 });
  const alerts = createHash("sha256");
  let count = 0;
  envelopes.forEach((e, i) => {
    if (i === restoreAt) {
      const saved = JSON.stringify(detection.snapshot());
      detection = createDetection({ now: () => 0 });
      detection.restore(JSON.parse(saved));
    }
    for (const a of detection.observe(e, "t")) {
      alerts.update(JSON.stringify(a));
      count++;
    }
  });
  return { alerts: count, alertsSha: alerts.digest("hex").slice(0, 16), stateSha: sha(JSON.stringify(detection.snapshot())) };
}

if (process.argv[1]?.endsWith("exact-hash.ts")) {
  const { values } = parseArgs({ options: { seeds: { type: "string", default: "1,2,13" }, events: { type: "string", default: "50000,60000,60000" } } });
  const seeds = values.seeds.split(",").map(Number);
  const counts = values.events.split(",").map(Number);
  seeds.forEach((seed, i) => {
    const n = counts[i] ?? counts[counts.length - 1];
    const h = detectionHashes(seed, n);
    console.log(`seed ${seed} events ${n}: alerts ${h.alerts} ${h.alertsSha} state ${h.stateSha}`);
    if (i === 0) {
      const r = detectionHashes(seed, n, Math.floor(n / 2));
      console.log(`seed ${seed} events ${n} restored half way: alerts ${r.alerts} ${r.alertsSha} state ${r.stateSha}`);
    }
  });
}

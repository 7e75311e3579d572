// Payments benchmark with joint anomalies (issue 14 item 3): the generator's `paymentAnomalies:
// "joint"` adds takeovers, payments whose amount, pace and place are each within what the
// customer sometimes does and unusual only together. Runs `evalSynthetic` on payments alone
// (100,000 events, anomaly rate 0.02, 500 ms apart, as `sluice eval synthetic --sources txn`) with
// the joint signal off and at each correction, on both streams, and prints F1, episodes found,
// recall per kind, false alerts and false alerts per 1,000 payments.
//   node --import tsx bench/payments-joint.ts --seeds 2,3,4 --tests 0,1,0.3,0.1 [--streams joint,default]
// --tests: the joint signal's correction per run (DetectionOptions.paymentsJointTests); 0 is the signal off.
import { parseArgs } from "node:util";
import { evalSynthetic } from "../actors/detect/eval.ts";

const { values } = parseArgs({ options: { seeds: { type: "string", default: "2,3,4" }, tests: { type: "string", default: "0,1,0.3,0.1" }, streams: { type: "string", default: "joint,default" }, events: { type: "string", default: "100000" } } });
const list = (s: string) => s.split(",").map((x) => x.trim()).filter(Boolean);

for (const stream of list(values.streams) as Array<"joint" | "default">) {
  for (const seed of list(values.seeds).map(Number)) {
    for (const tests of list(values.tests).map(Number)) {
      const r = evalSynthetic({ seed, events: Number(values.events), anomalyRate: 0.02, intervalMs: 500, sources: ["txn"], paymentAnomalies: stream, detection: { paymentsJointTests: tests } });
      const t = r.sources.txn!;
      const kinds = Object.entries(t.kinds).map(([k, v]) => `${k} ${v.found}/${v.episodes}`).join(", ");
      const bySignal = Object.entries(t.falseBySignal).map(([k, v]) => `${k} ${v}`).join(", ");
      console.log(`stream ${stream} seed ${seed} joint ${tests === 0 ? "off" : `1/${tests}`}: F1 ${t.f1.toFixed(3)} found ${t.found}/${t.episodes} false ${t.falseAlerts} (${((1000 * t.falseAlerts) / t.events).toFixed(2)} per 1,000 payments; ${bySignal}) | ${kinds}`);
    }
  }
}

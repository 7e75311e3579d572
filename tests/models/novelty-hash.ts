// A hash of every distance the novelty scan returns over one public NAB series at the detector's
// settings. Distances are sums of squares and a square root (exactly rounded everywhere), so every
// runtime must give the same hash; run as a script it prints it (what the Deno check runs).
import { createHash } from "node:crypto";
import { join } from "node:path";
import { readNabCsv } from "../../models/anomaly/index.ts";
import { newNovelty, pushNovelty, type NoveltyConfig } from "../../models/anomaly/novelty.ts";
import { NAB_DATA } from "./nab-fingerprint.ts";

export const NOVELTY_HASH_SERIES = "realTweets/Twitter_volume_AAPL.csv";

export function noveltyHash(): string {
  const { values } = readNabCsv(join(NAB_DATA, NOVELTY_HASH_SERIES));
  const hash = createHash("sha256");
  for (const step of [1, 4, 16]) {
    const cfg: NoveltyConfig = { step, lengths: [8, 12, 16], capacity: 1000 };
    const state = newNovelty(cfg);
    for (const x of values) hash.update(JSON.stringify([pushNovelty(cfg, state, x), state.hint ?? null]));
  }
  return hash.digest("hex");
}

// `import.meta.main` is Deno's "run as a script"; Node runs it with --print.
if ((import.meta as { main?: boolean }).main || process.argv.includes("--print")) console.log(noveltyHash());

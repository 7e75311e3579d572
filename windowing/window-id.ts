import * as crypto from "node:crypto";
import { partitionOf } from "../subjects/catalog.ts";
import type { Source } from "../subjects/sources.ts";
import type { WindowKind } from "./types.ts";

/**
 * The row id of one (source, kind, key, metric, bounds): 32 hex digits of SHA-256, so a re-emitted
 * version of a window lands on the same id in every process and after every restart.
 *
 * @example
 * windowId("iot", "tumbling", "sensor-7", "temperature", 1764284400000, 1764284460000)
 */
export function windowId(source: Source, kind: WindowKind, key: string, metric: string, start: number, end: number): string {
  return sha256Hex(JSON.stringify([source, kind, key, metric, start, end])).slice(0, 32);
}

// One-shot `crypto.hash` (Node 20.12+) skips building a Hash object per row; the digest is the same.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: "hex") => string }).hash;
const sha256Hex = oneShot
  ? (text: string) => oneShot("sha256", text, "hex")
  : (text: string) => crypto.createHash("sha256").update(text).digest("hex");

/**
 * The shard of a window's row key (`sensor-7`, `site=berlin`) among `count`: the key's FNV-1a
 * hash, like an envelope key's EVENTS partition, so the same key is in the same shard everywhere.
 */
export function groupShardOf(key: string, count: number): number {
  return partitionOf(key, count);
}

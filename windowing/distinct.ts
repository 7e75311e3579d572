import { Buffer } from "node:buffer";

/**
 * Distinct count of one window and group: an exact set while it is small, a HyperLogLog once it
 * passes the configured limit. Both merge without loss of what they know and give the same answer
 * whatever order values arrive in.
 *
 * The HyperLogLog is written here rather than taken from npm: the one maintained candidate
 * (bloom-filters) stores `rank - 1` in its registers and doubles the raw estimate to compensate,
 * hashes through 64-character binary strings and pulls in lodash, seedrandom and reflect-metadata.
 */
export type DistinctState =
  | { kind: "exact"; values: Set<string> }
  | { kind: "hll"; registers: Uint8Array };

export type DistinctJson = { exact: string[] } | { hll: string };

export interface DistinctOptions {
  exactLimit: number;
  precision: number;
}

export function newDistinct(): DistinctState {
  return { kind: "exact", values: new Set() };
}

export function addDistinct(state: DistinctState, value: string, opts: DistinctOptions): DistinctState {
  if (state.kind === "hll") {
    hllAdd(state.registers, value, opts.precision);
    return state;
  }
  state.values.add(value);
  return state.values.size > opts.exactLimit ? toHll(state.values, opts.precision) : state;
}

export function mergeDistinct(into: DistinctState, from: DistinctState, opts: DistinctOptions): DistinctState {
  if (from.kind === "exact") {
    let merged = into;
    for (const value of from.values) merged = addDistinct(merged, value, opts);
    return merged;
  }
  const target = into.kind === "hll" ? into : toHll(into.values, opts.precision);
  for (let i = 0; i < target.registers.length; i++) {
    if (from.registers[i] > target.registers[i]) target.registers[i] = from.registers[i];
  }
  return target;
}

export function countDistinct(state: DistinctState): number {
  return state.kind === "exact" ? state.values.size : Math.round(hllEstimate(state.registers));
}

export function distinctToJson(state: DistinctState): DistinctJson {
  return state.kind === "exact"
    ? { exact: [...state.values].sort() }
    : { hll: Buffer.from(state.registers).toString("base64") };
}

export function distinctFromJson(json: DistinctJson): DistinctState {
  return "exact" in json
    ? { kind: "exact", values: new Set(json.exact) }
    : { kind: "hll", registers: new Uint8Array(Buffer.from(json.hll, "base64")) };
}

function toHll(values: Iterable<string>, precision: number): { kind: "hll"; registers: Uint8Array } {
  const registers = new Uint8Array(1 << precision);
  for (const value of values) hllAdd(registers, value, precision);
  return { kind: "hll", registers };
}

const encoder = new TextEncoder();

// Two murmur3 hashes with different seeds give 64 bits: the first picks the register, the second
// supplies the run of leading zeros, so the register index and the rank are independent.
function hllAdd(registers: Uint8Array, value: string, precision: number): void {
  const bytes = encoder.encode(value);
  const index = murmur3(bytes, 0x9747b28c) >>> (32 - precision);
  const rank = Math.clz32(murmur3(bytes, 0x5bd1e995)) + 1;
  if (rank > registers[index]) registers[index] = rank;
}

function hllEstimate(registers: Uint8Array): number {
  const m = registers.length;
  let harmonic = 0;
  let zeros = 0;
  for (const r of registers) {
    harmonic += 2 ** -r;
    if (r === 0) zeros++;
  }
  const alpha = 0.7213 / (1 + 1.079 / m);
  const raw = (alpha * m * m) / harmonic;
  // Small-range correction of Flajolet et al.; with 64 hash bits no large-range one is needed.
  return raw <= 2.5 * m && zeros > 0 ? m * Math.log(m / zeros) : raw;
}

function murmur3(bytes: Uint8Array, seed: number): number {
  let h = seed >>> 0;
  const blocks = bytes.length >>> 2;
  for (let i = 0; i < blocks; i++) {
    const o = i * 4;
    let k = bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16) | (bytes[o + 3] << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = blocks * 4;
  const rest = bytes.length & 3;
  if (rest > 0) {
    let k = 0;
    if (rest === 3) k ^= bytes[tail + 2] << 16;
    if (rest >= 2) k ^= bytes[tail + 1] << 8;
    k ^= bytes[tail];
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

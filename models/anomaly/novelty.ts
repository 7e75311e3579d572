// Novelty of the latest stretch of a series: the distance from the newest subsequence to its
// nearest neighbour among the subsequences still in memory (a left matrix profile, as in discord
// discovery). A spike that has happened before has a close neighbour and scores low; a shape or
// level that memory has never held scores high. This is what makes HTM, contextOSE and ARTime
// stop alerting on recurring "extreme" patterns, which extremeness tests keep flagging.

import { NOVELTY_SCAN_WASM_BASE64 } from "./wasm/novelty-scan.wasm.ts";

/** Serializable state of one novelty tracker at one time scale. */
export interface NoveltyState {
  /**
   * Ring buffer of the (downsampled) series, capacity + the longest length values once full.
   * Until then it holds only the values written (head === filled): a key with a few readings
   * keeps a few values, not a thousand zeros. Older snapshots hold the full ring, zero-padded.
   */
  ring: number[];
  /** Index of the next write. */
  head: number;
  /** Values written so far (saturates at the ring length). */
  filled: number;
  /** Points of the raw series folded into the pending downsampled value. */
  pendingCount: number;
  pendingSum: number;
  /**
   * Where the newest pattern's nearest neighbour ended, in values back from it (the longest
   * length's). Its successor is the likeliest neighbour of the next pattern and is measured first,
   * so the scan starts with a tight best and abandons most candidates after a few values. Only a
   * speed hint: the result does not depend on it. Absent in older snapshots.
   */
  hint?: number;
}

export interface NoveltyConfig {
  /** Raw points per downsampled value. */
  step: number;
  /** Subsequence lengths, in downsampled values, ascending; each gets its own distance. */
  lengths: readonly number[];
  /** Subsequences kept (ring holds capacity + the longest length values). */
  capacity: number;
}

export function newNovelty(_cfg: NoveltyConfig): NoveltyState {
  return { ring: [], head: 0, filled: 0, pendingCount: 0, pendingSum: 0 };
}

const longest = (cfg: NoveltyConfig) => cfg.lengths[cfg.lengths.length - 1];
/** Values the full ring holds. */
const ringLength = (cfg: NoveltyConfig) => cfg.capacity + longest(cfg);
/** First size of the growing scan buffers; they double from there up to the full ring. */
const FIRST_ROOM = 16;

/** The same history, oldest values dropped if it does not fit, in the ring `cfg` needs (a snapshot taken with other lengths). */
export function resizeNovelty(cfg: NoveltyConfig, old: NoveltyState): NoveltyState {
  const s = newNovelty(cfg);
  // An unwrapped ring (head === filled) reads the same modulo any length of at least `filled`.
  const oldLen = Math.max(old.ring.length, 1);
  const kept = Math.min(old.filled, ringLength(cfg));
  for (let k = 0; k < kept; k++) s.ring.push(old.ring[(old.head - kept + k + 2 * oldLen) % oldLen]);
  s.filled = kept;
  s.head = kept % ringLength(cfg);
  s.pendingCount = old.pendingCount;
  s.pendingSum = old.pendingSum;
  return s;
}

/**
 * Derived, unserialised companions of a state, rebuilt from it when missing: the ring written
 * twice over (value i at i and i + length) so a pattern reads as one contiguous run (and copies
 * into the WebAssembly scan's memory as one). Not in the snapshot.
 *
 * Until the ring wraps, every pattern is already contiguous in it, so the mirror is the ring
 * once (`offset` 0) in a buffer that doubles as values arrive; it is written twice over
 * (`offset` = the ring length) from the first write that wraps. The same values are read in the
 * same order either way.
 */
interface Scan {
  /** The ring twice over (or once, unwrapped); the newest value at `newest + offset`. */
  mirror: Float64Array;
  /** 0 while the ring has not wrapped, else the ring length. */
  offset: number;
  /** The newest pattern, newest value first. */
  pattern: Float64Array;
  /** Per length, the best squared distance of the scan under way (reused: a scan runs for every point). */
  best: number[];
  head: number;
  filled: number;
}

/**
 * Where a state keeps its scan: a non-enumerable property, so JSON, structuredClone, spreads and
 * Object.assign never copy it into a snapshot or another state (a WeakMap lookup per point cost
 * ~4% of detection).
 */
const SCAN = Symbol("novelty scan");
type WithScan = NoveltyState & { [SCAN]?: Scan };

/** The scan of `s`, rebuilt when missing or stale; ready for the write at `s.head` (mirrored in full once that write wraps). */
function scanOf(cfg: NoveltyConfig, s: NoveltyState): Scan {
  const len = ringLength(cfg);
  let scan = (s as WithScan)[SCAN];
  if (!scan || scan.head !== s.head || scan.filled !== s.filled) {
    const ascending = cfg.lengths.every((m, j) => Number.isInteger(m) && (j === 0 ? m >= 2 : m > cfg.lengths[j - 1]));
    if (!ascending || cfg.lengths.length > KERNEL_MAX_LENGTHS) {
      throw new RangeError(`novelty pattern lengths must be 1 to ${KERNEL_MAX_LENGTHS} ascending integers from 2, got ${cfg.lengths.join(", ")}`);
    }
    if (s.ring.length !== len && !(s.ring.length >= s.filled && s.head === s.filled)) {
      throw new RangeError(`novelty ring holds ${s.ring.length} values (head ${s.head}, filled ${s.filled}); expected ${len}, or the values written so far`);
    }
    const room = Math.min(len, Math.max(FIRST_ROOM, s.filled + 1));
    const mirror = new Float64Array(room);
    for (let i = 0; i < s.filled; i++) mirror[i] = s.ring[i];
    scan = {
      mirror,
      offset: 0,
      pattern: new Float64Array(longest(cfg)),
      best: cfg.lengths.map(() => Infinity),
      head: s.head,
      filled: s.filled,
    };
    Object.defineProperty(s, SCAN, { value: scan, writable: true, enumerable: false, configurable: true });
  }
  if (scan.offset === 0) {
    if (s.filled >= len) {
      // This write wraps: from now on a pattern may straddle the ring's end.
      const mirror = new Float64Array(2 * len);
      for (let i = 0; i < len; i++) mirror[i] = mirror[i + len] = s.ring[i];
      scan.mirror = mirror;
      scan.offset = len;
    } else if (s.head >= scan.mirror.length) {
      const mirror = new Float64Array(Math.min(len, 2 * scan.mirror.length));
      mirror.set(scan.mirror);
      scan.mirror = mirror;
    }
  }
  return scan;
}

/** The WebAssembly scan (wasm/novelty-scan.wat) and typed views of its memory. */
interface Kernel {
  memory: WasmMemory;
  scan: (n: number, lo: number, hi: number, lengths: number) => void;
  f64: Float64Array;
  i32: Int32Array;
}

/** Byte offsets in the kernel's memory (see the .wat). */
const KERNEL_BESTS = 64;
const KERNEL_LAGS = 128;
const KERNEL_WINDOW = 1024;
const KERNEL_MAX_LENGTHS = 4;

/** The part of the standard WebAssembly global used here (the project's lib, ES2023, does not declare it). */
interface WasmMemory { readonly buffer: ArrayBuffer; grow(pages: number): number }
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

function loadKernel(): Kernel {
  const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
  const bytes = Uint8Array.from(atob(NOVELTY_SCAN_WASM_BASE64), (c) => c.charCodeAt(0));
  const { exports } = new wasm.Instance(new wasm.Module(bytes), {});
  const memory = exports.memory as WasmMemory;
  return { memory, scan: exports.scan as Kernel["scan"], f64: new Float64Array(memory.buffer), i32: new Int32Array(memory.buffer) };
}

let kernel: Kernel | undefined;

/**
 * Lowers `best` (squared distances, one per length) by the candidates `lo` .. `hi` lags behind
 * the newest value (an even count, every length fitting each), scanned in WebAssembly; returns
 * the lag of the longest length's new best, the nearest lag of those equally near, or -1 when
 * none was strictly nearer than `best` already was (what the scalar scan's ascending visit keeps).
 */
function scanPairs(m: Float64Array, origin: number, lo: number, hi: number, lengths: readonly number[], best: number[]): number {
  const k = (kernel ??= loadKernel());
  const nl = lengths.length;
  const n = hi + lengths[nl - 1];
  if (k.f64.length < KERNEL_WINDOW / 8 + n) {
    k.memory.grow(Math.ceil((KERNEL_WINDOW + 8 * n - k.memory.buffer.byteLength) / 65536));
    k.f64 = new Float64Array(k.memory.buffer);
    k.i32 = new Int32Array(k.memory.buffer);
  }
  const { f64, i32 } = k;
  f64.set(m.subarray(origin - n + 1, origin + 1), KERNEL_WINDOW / 8);
  const bests = KERNEL_BESTS / 8;
  for (let j = 0; j < nl; j++) {
    i32[j] = lengths[j];
    f64[bests + 2 * j] = f64[bests + 2 * j + 1] = best[j];
  }
  const lags = KERNEL_LAGS / 4;
  i32[lags] = i32[lags + 1] = i32[lags + 2] = i32[lags + 3] = -1;
  k.scan(n, lo, hi, nl);
  for (let j = 0; j < nl - 1; j++) best[j] = Math.min(f64[bests + 2 * j], f64[bests + 2 * j + 1]);
  // Lane 0 held the odd-offset lags (back + 1), lane 1 the even ones; a lag of -1 never got nearer.
  const v0 = f64[bests + 2 * (nl - 1)];
  const v1 = f64[bests + 2 * (nl - 1) + 1];
  const lag0 = i32[lags];
  const lag1 = i32[lags + 2];
  if (lag0 < 0 && lag1 < 0) return -1;
  const first = lag1 < 0 || (lag0 >= 0 && (v0 < v1 || (v0 === v1 && lag0 < lag1))) ? 0 : 1;
  best[nl - 1] = first === 0 ? v0 : v1;
  return first === 0 ? lag0 : lag1;
}

/**
 * Folds one raw point in. When a downsampled value completes and enough history exists, returns
 * for each subsequence length the RMS Euclidean distance from the newest subsequence of that
 * length to its nearest neighbour (levels included: a level never held before is novel), or null
 * for a length whose history is still too short; null when no value completed.
 *
 * Candidates of length m end at least m values before the newest, so they never overlap it. One
 * scan serves every length: a candidate's squared distance over its first m values is a prefix of
 * its distance over more, so the shorter lengths are read off on the way.
 *
 * Exact: every candidate's squares are summed in the same order as a plain loop would, so each
 * best is the brute-force one bit for bit (tests/models/nab-fingerprint.test.ts). The candidates
 * where every length fits, nearly all of them, are scanned in WebAssembly eight at a time
 * (wasm/novelty-scan.wat); a group is abandoned once its prefix is past the longest's best, which
 * the last nearest neighbour's successor, measured first, makes tight from the start.
 */
export function pushNovelty(cfg: NoveltyConfig, s: NoveltyState, x: number): (number | null)[] | null {
  s.pendingSum += x;
  s.pendingCount++;
  if (s.pendingCount < cfg.step) return null;
  const v = s.pendingSum / s.pendingCount;
  s.pendingSum = 0;
  s.pendingCount = 0;
  const scan = scanOf(cfg, s);
  const len = ringLength(cfg);
  const m = scan.mirror;
  const offset = scan.offset;
  // While unwrapped the write is at the ring's end (head === filled), and the ring grows by it.
  s.ring[s.head] = v;
  m[s.head] = v;
  if (offset !== 0) m[s.head + offset] = v;
  s.head = (s.head + 1) % len;
  if (s.filled < len) s.filled++;
  scan.head = s.head;
  scan.filled = s.filled;
  const lengths = cfg.lengths;
  const longestM = longest(cfg);
  const newest = (s.head - 1 + len) % len;
  const a = scan.pattern;
  const origin = newest + offset;
  // Before `longestM` values exist the pattern's tail is never read; 0 is what the zero-padded ring held.
  if (origin >= longestM - 1) for (let k = 0; k < longestM; k++) a[k] = m[origin - k];
  else for (let k = 0; k < longestM; k++) a[k] = k <= origin ? m[origin - k] : 0;
  const best = scan.best;
  best.fill(Infinity);
  const last = Math.min(cfg.capacity, s.filled - lengths[0]);
  const hint = s.hint ?? 0;
  if (hint >= lengths[0] && hint <= last) measure(m, a, origin, hint, s.filled, lengths, best);
  let nearest = -1;
  // Near the ends of memory fewer lengths fit and `measure` works out which.
  const inner = Math.min(last, s.filled - longestM);
  const top = lengths.length - 1;
  // An exact repeat of the newest pattern (a flat stretch, a count of zero again) makes every
  // best 0 (the shorter lengths' bests are at most the longest's): no candidate can lower one.
  for (let back = lengths[0]; back < Math.min(longestM, inner + 1) && best[top] !== 0; back++) {
    if (measure(m, a, origin, back, s.filled, lengths, best)) nearest = back;
  }
  // The lags where every length fits go to the WebAssembly scan, two at a time; an odd one out
  // (the deepest) is measured here, after them, as the scalar scan would visit it last.
  if (best[top] !== 0 && inner >= longestM) {
    const pairedTo = inner - ((inner - longestM + 1) % 2);
    if (pairedTo > longestM) {
      const found = scanPairs(m, origin, longestM, pairedTo, lengths, best);
      if (found >= 0) nearest = found;
    }
    if (pairedTo < inner && measure(m, a, origin, inner, s.filled, lengths, best)) nearest = inner;
  }
  for (let back = Math.max(lengths[0], inner + 1); back <= last; back++) {
    if (best[top] === 0) continue;
    if (measure(m, a, origin, back, s.filled, lengths, best)) nearest = back;
  }
  if (nearest >= 0) s.hint = nearest;
  // A length is judged once it has as many candidates as values (as with one length before).
  const out: (number | null)[] = new Array(lengths.length);
  for (let i = 0; i < lengths.length; i++) out[i] = s.filled - 2 * lengths[i] + 1 < lengths[i] ? null : Math.sqrt(best[i] / lengths[i]);
  return out;
}

/**
 * Measures the candidate ending `back` values before the newest against the newest pattern `a`,
 * lowering `best` (squared distances, one per length) where it is nearer; true when it lowered
 * the longest length's. Lengths up to min(back, filled - back) fit the candidate. `origin` is
 * the newest value's index in the mirrored ring.
 */
function measure(m: Float64Array, a: Float64Array, origin: number, back: number, filled: number, lengths: readonly number[], best: number[]): boolean {
  const room = Math.min(back, filled - back);
  let top = lengths.length - 1;
  while (lengths[top] > room) top--;
  const longestFit = lengths[top];
  // The bests grow with the length (each candidate's distance does, and a longer length is
  // measured on fewer candidates), so a candidate past its longest fitting length's best is past
  // every best it could lower.
  const bound = best[top];
  let d2 = 0;
  let j = 0;
  const at = origin - back;
  for (let k = 0; k < longestFit && d2 < bound; k++) {
    const d = a[k] - m[at - k];
    d2 += d * d;
    if (k + 1 === lengths[j]) {
      if (d2 < best[j]) best[j] = d2;
      j++;
    }
  }
  return top === lengths.length - 1 && d2 < bound;
}

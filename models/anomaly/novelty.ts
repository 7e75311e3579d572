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
 * Derived, unserialised companion of a state, rebuilt from it when missing: the ring written
 * twice over (value i at i and i + length) so a pattern reads as one contiguous run, held in the
 * WebAssembly scan's memory so the scan reads it where it is. Not in the snapshot.
 *
 * Until the ring wraps, every pattern is already contiguous in it, so the mirror is the ring
 * once (`offset` 0) in a block that doubles as values arrive; it is written twice over
 * (`offset` = the ring length) from the first write that wraps. The same values are read in the
 * same order either way.
 */
interface Scan {
  /** The mirror's block of kernel memory; the newest value at f64 index `block.at + newest + offset`. */
  block: Block;
  /** Values the block holds. */
  room: number;
  /** 0 while the ring has not wrapped, else the ring length. */
  offset: number;
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
    const block = allocate(room);
    const f64 = kernel!.f64;
    for (let i = 0; i < s.filled; i++) f64[block.at + i] = s.ring[i];
    scan = { block, room, offset: 0, head: s.head, filled: s.filled };
    // The block goes back to the free lists once nothing can reach the scan (its state was
    // dropped: a key evicted, a detector restored over), or at once when the scan moves to a larger one.
    released.register(scan, block, scan);
    Object.defineProperty(s, SCAN, { value: scan, writable: true, enumerable: false, configurable: true });
  }
  if (scan.offset === 0) {
    if (s.filled >= len) {
      // This write wraps: from now on a pattern may straddle the ring's end.
      moveTo(scan, 2 * len, (f64, at) => {
        for (let i = 0; i < len; i++) f64[at + i] = f64[at + i + len] = s.ring[i];
      });
      scan.offset = len;
    } else if (s.head >= scan.room) {
      const room = Math.min(len, 2 * scan.room);
      moveTo(scan, room, (f64, at, from) => f64.copyWithin(at, from, from + scan!.room));
      scan.room = room;
    }
  }
  return scan;
}

/** Moves `scan`'s mirror to a new block of `values`, filled by `fill` (which may read the old block at `from`), and frees the old one. */
function moveTo(scan: Scan, values: number, fill: (f64: Float64Array, at: number, from: number) => void): void {
  const old = { at: scan.block.at, size: scan.block.size };
  const fresh = allocate(values);
  fill(kernel!.f64, fresh.at, old.at);
  free(old);
  // The registered block object stays the scan's: it is updated in place.
  scan.block.at = fresh.at;
  scan.block.size = fresh.size;
}

/** The WebAssembly scan (wasm/novelty-scan.wat) and typed views of its memory. */
interface Kernel {
  memory: WasmMemory;
  push: (newest: number, filled: number, capacity: number, hint: number, lengths: number) => number;
  f64: Float64Array;
  i32: Int32Array;
  /** The pattern lengths now in the kernel's memory (written when another configuration scans). */
  lengths: readonly number[] | null;
  /** Free blocks of kernel memory by size class (f64 index of each), and the first byte never handed out. */
  free: number[][];
  end: number;
  /** Blocks handed out and not yet freed. */
  inUse: number;
}

/** Byte offsets in the kernel's memory (see the .wat). */
const KERNEL_BESTS = 32;
const KERNEL_HEAP = 1024;
const KERNEL_MAX_LENGTHS = 4;
/** The smallest block, in values (2^4); blocks are powers of two so freed ones are reused by size. */
const MIN_BLOCK_LOG2 = 4;

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
  return {
    memory,
    push: exports.push as Kernel["push"],
    f64: new Float64Array(memory.buffer),
    i32: new Int32Array(memory.buffer),
    lengths: null,
    free: [],
    end: KERNEL_HEAP,
    inUse: 0,
  };
}

let kernel: Kernel | undefined;

/** A block of kernel memory: its first value's f64 index and its size class (2^size values). */
interface Block { at: number; size: number }

/** A block for at least `values` values: a freed one of the same size class, else new memory (grown as needed). */
function allocate(values: number): Block {
  const k = (kernel ??= loadKernel());
  let size = MIN_BLOCK_LOG2;
  while (2 ** size < values) size++;
  k.inUse++;
  const reused = k.free[size]?.pop();
  if (reused !== undefined) return { at: reused, size };
  const bytes = 8 * 2 ** size;
  if (k.end + bytes > k.memory.buffer.byteLength) {
    // Growing detaches the old views: every access goes through k.f64, renewed here.
    k.memory.grow(Math.ceil((k.end + bytes - k.memory.buffer.byteLength) / 65536));
    k.f64 = new Float64Array(k.memory.buffer);
    k.i32 = new Int32Array(k.memory.buffer);
  }
  const at = k.end / 8;
  k.end += bytes;
  return { at, size };
}

function free(block: Block): void {
  kernel!.inUse--;
  (kernel!.free[block.size] ??= []).push(block.at);
}

/** Frees a scan's block once the scan is garbage (its block object is updated in place when the scan moves). */
const released = new FinalizationRegistry<Block>(free);

/**
 * Frees the kernel memory `s`'s scan holds now rather than when it is garbage collected (the
 * collector does not see WebAssembly memory, so dropped keys' blocks can pile up between
 * collections). `s` stays valid: its ring is the state, and a later push rebuilds the scan.
 */
export function releaseNovelty(s: NoveltyState): void {
  const scan = (s as WithScan)[SCAN];
  if (!scan) return;
  released.unregister(scan);
  free(scan.block);
  delete (s as WithScan)[SCAN];
}

/** Blocks of kernel memory held by scans now, and the kernel memory's size in bytes (for tests and benches). */
export function noveltyMemory(): { blocks: number; bytes: number } {
  return { blocks: kernel?.inUse ?? 0, bytes: kernel?.memory.buffer.byteLength ?? 0 };
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
 * best is the brute-force one bit for bit (tests/models/nab-fingerprint.test.ts). The scan runs
 * in WebAssembly (wasm/novelty-scan.wat), one call per value, over the mirror kept in its memory
 * (no copy per value): the candidates where every length fits, nearly all of them, eight at a
 * time; a group is abandoned once its prefix is past the longest's best, which the last nearest
 * neighbour's successor, measured first, makes tight from the start.
 */
export function pushNovelty(cfg: NoveltyConfig, s: NoveltyState, x: number): (number | null)[] | null {
  s.pendingSum += x;
  s.pendingCount++;
  if (s.pendingCount < cfg.step) return null;
  const v = s.pendingSum / s.pendingCount;
  s.pendingSum = 0;
  s.pendingCount = 0;
  const scan = scanOf(cfg, s);
  const k = kernel!;
  const f64 = k.f64;
  const len = ringLength(cfg);
  const at = scan.block.at;
  // While unwrapped the write is at the ring's end (head === filled), and the ring grows by it.
  s.ring[s.head] = v;
  f64[at + s.head] = v;
  if (scan.offset !== 0) f64[at + s.head + scan.offset] = v;
  s.head = (s.head + 1) % len;
  if (s.filled < len) s.filled++;
  scan.head = s.head;
  scan.filled = s.filled;
  const lengths = cfg.lengths;
  if (k.lengths !== lengths) {
    for (let j = 0; j < lengths.length; j++) k.i32[j] = lengths[j];
    k.lengths = lengths;
  }
  const newest = (s.head - 1 + len) % len;
  const nearest = k.push(8 * (at + newest + scan.offset), s.filled, cfg.capacity, s.hint ?? 0, lengths.length);
  if (nearest >= 0) s.hint = nearest;
  // A length is judged once it has as many candidates as values (as with one length before).
  const out: (number | null)[] = new Array(lengths.length);
  for (let i = 0; i < lengths.length; i++) {
    out[i] = s.filled - 2 * lengths[i] + 1 < lengths[i] ? null : Math.sqrt(f64[KERNEL_BESTS / 8 + i] / lengths[i]);
  }
  return out;
}

import { readFileSync } from "node:fs";
import v8 from "node:v8";

/**
 * How far V8 lets the JS heap grow past what survived the last full collection before it
 * collects again, in percent (`SLUICE_HEAP_GROWING_PERCENT`). V8 picks 10–300 % by itself and,
 * in a process that allocates as fast as a pipeline does, settles near the top: `sluice up` at
 * 1,000 events/s held 500–850 MB of heap around ~200 MB of live objects. 20 % keeps the heap
 * within a fifth of what is live, for more frequent (mostly concurrent) marking. 0 leaves V8's own.
 */
export const DEFAULT_HEAP_GROWING_PERCENT = 20;

/** Applies the heap policy to this process; call once, at the entrypoint, before the work starts. */
export function applyHeapPolicy(growingPercent: number): void {
  if (growingPercent <= 0) return;
  try {
    v8.setFlagsFromString(`--heap-growing-percent=${growingPercent}`);
  } catch {
    // A runtime without V8 flags (Deno's node:v8 shim) keeps its own policy.
  }
}

/** This process's memory in bytes, split by who holds it. */
export interface ProcessMemory {
  readonly rss: number;
  /** Resident anonymous memory (heaps, buffers, the engine's allocations); undefined off Linux. */
  readonly rssAnon: number | undefined;
  /** Resident file-backed pages: mostly the code of node and of libchdb, shared with other processes. */
  readonly rssFile: number | undefined;
  readonly heapUsed: number;
  readonly heapTotal: number;
  /** Memory of C++ objects bound to JS objects, Buffers' and ArrayBuffers' included. */
  readonly external: number;
  readonly arrayBuffers: number;
}

function procStatusKb(field: string, status: string | undefined): number | undefined {
  const kb = status?.match(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, "m"))?.[1];
  return kb === undefined ? undefined : Number(kb) * 1024;
}

export function processMemory(): ProcessMemory {
  const m = process.memoryUsage();
  let status: string | undefined;
  try {
    status = readFileSync("/proc/self/status", "utf8");
  } catch {
    status = undefined;
  }
  return { rss: m.rss, rssAnon: procStatusKb("RssAnon", status), rssFile: procStatusKb("RssFile", status), heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
}

const KINDS: ReadonlyArray<[keyof ProcessMemory, string]> = [
  ["rss", "resident set"],
  ["rssAnon", "resident anonymous memory"],
  ["rssFile", "resident file-backed pages (code)"],
  ["heapUsed", "JS heap in use"],
  ["heapTotal", "JS heap reserved"],
  ["external", "memory of C++ objects bound to JS (Buffers included)"],
  ["arrayBuffers", "ArrayBuffer and Buffer contents"],
];

/** The process's memory as Prometheus text: `sluice_process_memory_bytes{kind="…"}`. */
export function processMemoryText(memory: ProcessMemory = processMemory()): string {
  const lines = [`# HELP sluice_process_memory_bytes This process's memory by kind: ${KINDS.map(([k, what]) => `${k} = ${what}`).join("; ")}.`, "# TYPE sluice_process_memory_bytes gauge"];
  for (const [kind] of KINDS) {
    const value = memory[kind];
    if (value !== undefined) lines.push(`sluice_process_memory_bytes{kind="${kind}"} ${value}`);
  }
  return lines.join("\n") + "\n";
}

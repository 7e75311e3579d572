import { subject } from "../../subjects/catalog.ts";
import type { Source } from "../../subjects/sources.ts";
import type { TaskSpec } from "../runtime/keyed/actor.ts";
import { createDetectTask, type DetectTask, type DetectTaskOptions } from "./task.ts";

/**
 * The detect actor's unit of work, owned by one instance at a time and checkpointed on its own
 * (the same split as the window tasks, actors/window/tasks.ts):
 *
 * - `p<n>`: iot of EVENTS partition n. validate partitions by the envelope key (the sensor), and
 *   every iot signal is per sensor, so one task sees each sensor's whole history in that
 *   partition's stored order, and the partitions scale out.
 * - `txn` and `social`: every partition's events of that source, in stored order. Both score
 *   something that spans partitions: txn judges an amount against what its merchant is usually
 *   paid by every customer (learnt per partition, the merchant references are a quarter as good:
 *   `sluice eval synthetic` txn F1 0.906 → 0.883 on seed 1 and 0.927 → 0.874 on seed 2 with 4
 *   partitions), social counts posts per topic from users of every partition. Each is one task,
 *   so it runs on one instance at a time; the two can run on different instances.
 */
export interface DetectTaskSpec extends TaskSpec {
  /** EVENTS subjects the task reads. */
  readonly filter: readonly string[];
  readonly sources: readonly Source[];
  /** Partitions the task's watermarks combine. */
  readonly partitions: number;
  /** The EVENTS partition the task reads, or undefined for every partition. */
  readonly partition: number | undefined;
  /** The task's partition for a message of EVENTS partition p. */
  taskPartition(p: number): number;
}

export function detectTaskSpecs(partitions: number): DetectTaskSpec[] {
  const specs: DetectTaskSpec[] = [];
  for (let p = 0; p < partitions; p++) {
    specs.push({ id: `p${p}`, filter: [subject.events("iot", p)], sources: ["iot"], partitions: 1, partition: p, taskPartition: () => 0 });
  }
  for (const source of ["txn", "social"] as const) {
    specs.push({ id: source, filter: [subject.eventsAll(source)], sources: [source], partitions, partition: undefined, taskPartition: (p) => p });
  }
  return specs;
}

/** The spec that reads a message of `source` on EVENTS partition `partition`. */
export function specFor(specs: readonly DetectTaskSpec[], source: Source, partition: number): DetectTaskSpec | undefined {
  return specs.find((s) => s.sources.includes(source) && (s.partition === undefined || s.partition === partition));
}

/** The spec's task, with the shared options (window timing, thresholds). */
export function createTaskFor(spec: DetectTaskSpec, opts: Omit<DetectTaskOptions, "sources" | "partitions"> = {}): DetectTask {
  return createDetectTask({ ...opts, sources: spec.sources, partitions: spec.partitions });
}

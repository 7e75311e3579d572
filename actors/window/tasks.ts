import type { SourceWindowConfig, WindowConfig, WindowSpec } from "../../windowing/index.ts";
import { subject } from "../../subjects/catalog.ts";
import type { Source } from "../../subjects/sources.ts";
import type { TaskSpec } from "../runtime/keyed/actor.ts";

/**
 * The window actor's unit of work, owned by one instance at a time and checkpointed on its own.
 *
 * - `p<n>`: partition n of EVENTS (`events.*.<n>`), windows of the bare group (the envelope key:
 *   sensor, user, customer). validate partitions by that key, so every such window lives in
 *   exactly one partition, and one engine per partition makes its output a function of that
 *   partition's message order alone, whatever else runs and whenever it runs.
 * - `groups-<source>-<s>`: every partition of one source (`events.<source>.>`), the windows of
 *   the payload-field groups (site, merchant, topic) whose key falls in group shard s of
 *   `groupShards` (windowing's `groupShardOf`). Such a window spans partitions, so its task reads
 *   them all, in stored order, and its watermark is the minimum over them, as the single `groups`
 *   task's was; but each window lives in exactly one shard, so the shards split the work between
 *   instances. Every shard parses every message of its source: that is the price of not
 *   re-publishing the stream keyed by group (measured in the README).
 */
export interface WindowTask extends TaskSpec {
  readonly filter: string;
  /** The engine's partition for a message of EVENTS partition p. */
  enginePartition(p: number): number;
  /** The real EVENTS partition behind the engine's partition (for late outputs). */
  readonly partition: number | undefined;
  readonly config: WindowConfig;
}

type Sources = Partial<Record<Source, SourceWindowConfig>>;

function restrict(base: WindowConfig, idleMs: number | undefined, keep: (g: { field?: string }) => boolean): Sources {
  const out: Sources = {};
  for (const [source, sc] of Object.entries(base.sources) as Array<[Source, SourceWindowConfig | undefined]>) {
    if (!sc) continue;
    const groups = sc.groups.filter(keep);
    if (groups.length === 0) continue;
    const names = new Set(groups.map((g) => g.name));
    const windows: WindowSpec[] = [];
    for (const w of sc.windows) {
      if (!w.groups) {
        windows.push(w);
        continue;
      }
      const kept = w.groups.filter((g) => names.has(g));
      if (kept.length) windows.push({ ...w, groups: kept });
    }
    if (windows.length === 0) continue;
    out[source] = { ...sc, idleTimeoutMs: idleMs ?? sc.idleTimeoutMs, groups, windows };
  }
  return out;
}

/** The task that folded every payload-field group before they were sharded (see upgrade in index.ts). */
export const RETIRED_GROUPS_TASK = "groups";

export function groupsTaskId(source: Source, shard: number): string {
  return `groups-${source}-${shard}`;
}

export function windowTasks(base: WindowConfig, partitions: number, groupShards: number, idleMs?: number): WindowTask[] {
  const keyed = restrict(base, idleMs, (g) => g.field === undefined);
  const fielded = restrict(base, idleMs, (g) => g.field !== undefined);
  const tasks: WindowTask[] = [];
  if (Object.keys(keyed).length) {
    for (let p = 0; p < partitions; p++) {
      tasks.push({
        id: `p${p}`,
        filter: `events.*.${p}`,
        enginePartition: () => 0,
        partition: p,
        config: { ...base, partitions: 1, sources: keyed },
      });
    }
  }
  for (const [source, sc] of Object.entries(fielded) as Array<[Source, SourceWindowConfig]>) {
    for (let shard = 0; shard < groupShards; shard++) {
      tasks.push({
        id: groupsTaskId(source, shard),
        filter: subject.eventsAll(source),
        enginePartition: (p) => p,
        partition: undefined,
        config: { ...base, partitions, groupShard: { count: groupShards, index: shard }, sources: { [source]: sc } },
      });
    }
  }
  return tasks;
}

/** Each task's id and config in the layout before group shards: the partition tasks, and `groups` over every partition. */
export function layoutBeforeGroupShards(base: WindowConfig, partitions: number, idleMs?: number): Array<[string, WindowConfig]> {
  const layout = windowTasks(base, partitions, 0, idleMs).map((t): [string, WindowConfig] => [t.id, t.config]);
  const fielded = restrict(base, idleMs, (g) => g.field !== undefined);
  if (Object.keys(fielded).length) layout.push([RETIRED_GROUPS_TASK, { ...base, partitions, sources: fielded }]);
  return layout;
}

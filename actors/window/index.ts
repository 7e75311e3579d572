import { setTimeout as sleep } from "node:timers/promises";
import { trace } from "@opentelemetry/api";
import { defaultWindowConfig, type WindowConfig } from "../../windowing/index.ts";
import type { LoopActor } from "../runtime/supervisor.ts";
import { CheckpointStore } from "./checkpoint.ts";
import { isLeaseLost, Ownership } from "./ownership.ts";
import { TaskRunner } from "./task.ts";
import { windowTasks } from "./tasks.ts";

export interface WindowActorOptions {
  /** Partitions of `events.<source>.<partition>` (SLUICE_PARTITIONS). */
  readonly partitions?: number;
  /** Overrides every source's idle timeout (stream time) in the cross-partition `groups` task. */
  readonly idleMs?: number;
  readonly config?: WindowConfig;
  readonly checkpointEveryMs?: number;
  /** How often membership is read and tasks are moved. */
  readonly rebalanceMs?: number;
  readonly memberTtlMs?: number;
  readonly batchMessages?: number;
  /** After SIGTERM, longest wait for the last batches, checkpoints and lease releases. */
  readonly shutdownBudgetMs?: number;
}

/**
 * The window actor: the engine's full config (tumbling, hopping, session windows; groups;
 * quantiles; distinct counts) over EVENTS, split into tasks (one per partition for the entity
 * key's windows, one for the payload-field groups; see tasks.ts), each owned by one instance
 * through leases (ownership.ts), checkpointed with its stream position (checkpoint.ts, task.ts).
 *
 * It reads EVENTS with ordered consumers from checkpointed positions instead of the runtime's
 * durable consumer with acks: holding acks until windows close fails after a crash (the
 * redeliveries come ack_wait later, after newer events moved the watermark on). The runtime's
 * supervisor still restarts it, and it reuses the runtime's batching, PublishError and metrics.
 */
export function windowActor(opts: WindowActorOptions = {}): LoopActor {
  const tasks = windowTasks(opts.config ?? defaultWindowConfig, opts.partitions ?? 4, opts.idleMs);
  const ids = tasks.map((t) => t.id);
  return {
    name: "window",
    async run(deps) {
      const { nc, log, signal } = deps;
      const tracer = deps.tracerFor?.("window") ?? trace.getTracer("sluice-window");
      const store = await CheckpointStore.open(nc, signal);
      const own = await Ownership.open(nc, { memberTtlMs: opts.memberTtlMs }, signal);
      const running = new Map<string, TaskRunner>();
      const taskDeps = { nc, log, tracer, store, checkpointEveryMs: opts.checkpointEveryMs ?? 5_000, batchMessages: opts.batchMessages ?? 1_000 };
      const handOverMs = opts.shutdownBudgetMs ?? 3_000;
      const stopTask = async (id: string, budget: AbortSignal) => {
        const runner = running.get(id)!;
        await runner.stop(budget);
        running.delete(id);
        if (isLeaseLost(runner.error)) return;
        await runner.lease.release(budget);
        if (runner.error) throw runner.error;
      };
      await own.join(signal);
      log.info(`window: instance ${own.id} joined; ${tasks.length} tasks (${ids.join(", ")})`);
      try {
        while (!signal.aborted) {
          for (const [id, runner] of running) {
            if (!runner.error) continue;
            // Another instance runs the task now; this one wrote nothing after losing it.
            if (isLeaseLost(runner.error)) {
              running.delete(id);
              log.warn(`window: ${runner.error.message}`);
              continue;
            }
            throw new Error(`window task ${id} failed`, { cause: runner.error });
          }
          const live = await own.liveMembers(signal);
          const mine = new Set(Ownership.assign(ids, live, own.id));
          for (const id of [...running.keys()]) {
            if (mine.has(id)) continue;
            await stopTask(id, AbortSignal.any([signal, AbortSignal.timeout(handOverMs)]));
            log.info(`window: handed task ${id} over (${live.length} instances)`);
          }
          for (const task of tasks) {
            if (!mine.has(task.id) || running.has(task.id) || signal.aborted) continue;
            const lease = await own.acquire(task.id, live, signal);
            if (lease) {
              running.set(task.id, new TaskRunner(task, lease, taskDeps));
              log.info(`window: instance ${own.id} runs task ${task.id}`);
            }
          }
          await sleep(opts.rebalanceMs ?? 500, undefined, { signal }).catch(() => undefined);
        }
      } catch (err) {
        // A broker wait ended by the abort is the shutdown, not a failure.
        if (!signal.aborted) throw err;
      } finally {
        // One budget for the whole shutdown: a stalled server cannot make SIGTERM wait longer.
        const budget = AbortSignal.timeout(handOverMs);
        const stopping = await Promise.allSettled([...running.keys()].map((id) => stopTask(id, budget)));
        await own.leave(budget);
        const failed = stopping.find((s): s is PromiseRejectedResult => s.status === "rejected");
        if (failed && !signal.aborted) log.error(`window: a task failed while stopping: ${String(failed.reason)}`);
      }
    },
  };
}

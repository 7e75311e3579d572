import { setMaxListeners } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { trace } from "@opentelemetry/api";
import type { LoopActor } from "../supervisor.ts";
import type { KeyedActorDefinition, TaskSpec } from "./actor.ts";
import { CheckpointStore } from "./checkpoint.ts";
import { isLeaseLost, Ownership } from "./ownership.ts";
import { TaskRunner } from "./task.ts";
import { startContext } from "../start.ts";
import { BrokerTimeoutError } from "../../../nats/deadline.ts";
import { isClusterTransient } from "../transient.ts";

export interface KeyedRunOptions {
  /** Longest time between two checkpoints of a task while messages flow. */
  readonly checkpointEveryMs?: number;
  /** How often membership is read and tasks are moved. */
  readonly rebalanceMs?: number;
  /** A member whose heartbeat is older than this is gone and its tasks are taken over. */
  readonly memberTtlMs?: number;
  /** After SIGTERM (or a hand-over), longest wait for the last batches, checkpoints and lease releases. */
  readonly shutdownBudgetMs?: number;
}

/**
 * Runs a keyed actor as the supervisor's LoopActor: join the actor's members, and every
 * `rebalanceMs` run exactly the tasks rendezvous hashing gives this instance, each under its
 * lease (ownership.ts) from its checkpoint (task.ts). A task whose lease another instance took is
 * dropped (it wrote nothing after the loss); any other task failure ends the run, and the
 * supervisor restarts the actor under a new member id.
 */
export function keyedActor<S, T extends TaskSpec>(def: KeyedActorDefinition<S, T>, opts: KeyedRunOptions = {}): LoopActor {
  const tasks = def.reads.tasks;
  const ids = tasks.map((t) => t.id);
  if (new Set(ids).size !== ids.length) throw new Error(`keyed actor ${def.name}: task ids must be unique, got ${ids.join(", ")}`);
  const budgetMs = opts.shutdownBudgetMs ?? 3_000;
  return {
    name: def.name,
    needs: def.needs,
    async run(deps) {
      const { nc, log, signal } = deps;
      const tracer = deps.tracerFor?.(def.name) ?? trace.getTracer(`sluice-${def.name}`);
      const store = await CheckpointStore.open(nc, def.name, signal);
      const own = await Ownership.open(nc, def.name, { memberTtlMs: opts.memberTtlMs }, signal);
      const running = new Map<string, TaskRunner<S, T>>();
      const taskDeps = { def, nc, log, tracer, store, checkpointEveryMs: opts.checkpointEveryMs ?? 5_000 };
      const stopTask = async (id: string, budget: AbortSignal) => {
        const runner = running.get(id)!;
        await runner.stop(budget);
        running.delete(id);
        if (isLeaseLost(runner.error)) {
          log.warn(`${def.name}: ${runner.error.message}`);
          return;
        }
        await runner.lease.release(budget);
        if (runner.error) throw runner.error;
      };
      // A membership read the broker (or this stalled process) did not answer in time, or that a
      // cluster between leaders refused ("no responders", "temporarily unavailable"), is tried again
      // next round: the running tasks keep their leases, which fence them, and restarting the actor
      // would replay every task from its checkpoint. (A lease take is not: one whose answer was lost
      // may have landed, and only a restart, under a new member id, frees such a lease for others.)
      let unansweredSince = 0;
      const unanswered = (err: unknown): undefined => {
        if (signal.aborted || !(err instanceof BrokerTimeoutError || isClusterTransient(err))) throw err;
        if (!unansweredSince) log.warn(`${def.name}: could not read the members (${(err as Error).message}); its ${running.size} running tasks go on, trying again`);
        unansweredSince ||= Date.now();
        return undefined;
      };
      await def.start?.(startContext(def, deps, tracer));
      await own.join(signal);
      log.info(`${def.name}: instance ${own.id} joined; ${tasks.length} tasks (${ids.join(", ")})`);
      try {
        while (!signal.aborted) {
          for (const [id, runner] of running) {
            if (!runner.error) continue;
            // Another instance runs the task now; this one wrote nothing after losing it.
            if (isLeaseLost(runner.error)) {
              running.delete(id);
              log.warn(`${def.name}: ${runner.error.message}`);
              continue;
            }
            throw new Error(`${def.name} task ${id} failed`, { cause: runner.error });
          }
          const live = await own.liveMembers(signal).catch(unanswered);
          if (!live) {
            await sleep(opts.rebalanceMs ?? 500, undefined, { signal }).catch(() => undefined);
            continue;
          }
          const mine = new Set(Ownership.assign(ids, live, own.id));
          for (const id of [...running.keys()]) {
            if (mine.has(id)) continue;
            await stopTask(id, AbortSignal.any([signal, AbortSignal.timeout(budgetMs)]));
            log.info(`${def.name}: handed task ${id} over (${live.length} instances)`);
          }
          for (const task of tasks) {
            if (!mine.has(task.id) || running.has(task.id) || signal.aborted) continue;
            const lease = await own.acquire(task.id, live, signal);
            if (lease) {
              running.set(task.id, new TaskRunner(task, lease, taskDeps));
              log.info(`${def.name}: instance ${own.id} runs task ${task.id}`);
            }
          }
          if (unansweredSince) log.info(`${def.name}: members read again after ${Date.now() - unansweredSince} ms`);
          unansweredSince = 0;
          await sleep(opts.rebalanceMs ?? 500, undefined, { signal }).catch(() => undefined);
        }
      } catch (err) {
        // A broker wait ended by the abort is the shutdown, not a failure.
        if (!signal.aborted) throw err;
      } finally {
        // One budget for the whole shutdown: a stalled server cannot make SIGTERM wait longer.
        const budget = AbortSignal.timeout(budgetMs);
        // Every task's stop listens to it: as many listeners as tasks, removed with the signal.
        setMaxListeners(0, budget);
        const stopping = await Promise.allSettled([...running.keys()].map((id) => stopTask(id, budget)));
        await own.leave(budget);
        await def.stop?.();
        const failed = stopping.find((s): s is PromiseRejectedResult => s.status === "rejected");
        if (failed && !signal.aborted) log.error(`${def.name}: a task failed while stopping: ${String(failed.reason)}`);
      }
    },
  };
}

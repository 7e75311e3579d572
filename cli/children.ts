import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Logger } from "../actors/runtime/actor.ts";
import { metricsFor } from "../actors/runtime/metrics.ts";

const BIN = fileURLToPath(new URL("../bin/sluice.js", import.meta.url));
const FIRST_RESTART_MS = 250;
const MAX_RESTART_MS = 30_000;
/** A child that ran this long was healthy: its next crash restarts it after the shortest delay again. */
const HEALTHY_AFTER_MS = 60_000;

interface Slot {
  readonly actors: readonly string[];
  child?: ChildProcess;
  startedAt: number;
  restarts: number;
  /** Crashes since it last ran healthy; sets the backoff. */
  failures: number;
  restartTimer?: NodeJS.Timeout;
}

/**
 * `sluice up --split`: one `sluice actor …` process per group of actors, kept running. A child that
 * exits while we are not stopping is restarted with exponential backoff (reset once it ran a
 * minute), each restart logged and counted in the actors' `restarts` metric.
 *
 * Children run in their own process group, so a terminal's Ctrl-C reaches only this process and
 * each child gets exactly one SIGTERM from it (a second signal would make the child exit without
 * draining); an IPC channel tells them when this process is gone, even after a SIGKILL.
 */
export class ActorProcesses {
  private readonly opts: { groups: ReadonlyArray<readonly string[]>; env: NodeJS.ProcessEnv; log: Logger };
  private readonly slots: Slot[];
  private stopping = false;

  constructor(opts: { groups: ReadonlyArray<readonly string[]>; env: NodeJS.ProcessEnv; log: Logger }) {
    this.opts = opts;
    this.slots = opts.groups.map((actors) => ({ actors, startedAt: 0, restarts: 0, failures: 0 }));
  }

  start(): void {
    for (const slot of this.slots) this.spawn(slot);
  }

  /** Live children, e.g. `validate (pid 123)`. */
  running(): string[] {
    return this.slots.filter((s) => s.child && alive(s.child)).map((s) => `${s.actors.join(",")} (pid ${s.child!.pid})`);
  }

  private spawn(slot: Slot): void {
    const child = spawn(process.execPath, [BIN, "actor", ...slot.actors], { stdio: ["ignore", "inherit", "inherit", "ipc"], env: this.opts.env, detached: true });
    slot.child = child;
    slot.startedAt = Date.now();
    const name = slot.actors.join(",");
    this.opts.log.info(`actor process ${name}: pid ${child.pid}${slot.restarts ? ` (restart ${slot.restarts})` : ""}`);
    child.once("error", (err) => this.opts.log.error(`actor process ${name}: could not start: ${err.message}`));
    child.once("exit", (code, signal) => {
      if (this.stopping) return;
      const ranMs = Date.now() - slot.startedAt;
      if (ranMs > HEALTHY_AFTER_MS) slot.failures = 0;
      const delay = Math.min(MAX_RESTART_MS, FIRST_RESTART_MS * 2 ** slot.failures++);
      slot.restarts++;
      for (const actor of slot.actors) metricsFor(actor).restarts++;
      this.opts.log.error(`actor process ${name} (pid ${child.pid}) exited with ${signal ? `signal ${signal}` : `code ${code}`} after ${(ranMs / 1000).toFixed(1)} s; restart ${slot.restarts} in ${delay} ms`);
      slot.restartTimer = setTimeout(() => this.spawn(slot), delay);
    });
  }

  /** SIGTERM to every child (each drains), SIGKILL to those still running after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    for (const slot of this.slots) clearTimeout(slot.restartTimer);
    const live = this.slots.map((s) => s.child).filter((c): c is ChildProcess => !!c && alive(c));
    const exits = live.map((c) => new Promise((resolve) => c.once("exit", resolve)));
    for (const c of live) c.kill("SIGTERM");
    const grace = new Promise((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([Promise.all(exits), grace]);
    const stuck = live.filter(alive);
    if (stuck.length) {
      this.opts.log.error(`actor processes still running ${graceMs} ms after SIGTERM, killing: ${stuck.map((c) => c.pid).join(", ")}`);
      for (const c of stuck) c.kill("SIGKILL");
      await Promise.all(exits);
    }
  }

  /** For a forced exit: nothing may outlive this process. */
  killAll(): void {
    this.stopping = true;
    for (const slot of this.slots) {
      clearTimeout(slot.restartTimer);
      if (slot.child && alive(slot.child)) slot.child.kill("SIGKILL");
    }
  }
}

function alive(c: ChildProcess): boolean {
  return c.exitCode === null && c.signalCode === null;
}

import { ACTOR_NAMES, type ActorName } from "../../actors/pipeline.ts";
import { SluiceProcess } from "./sluice-process.ts";

/**
 * Every actor as its own `sluice actor <name>` process, the way `sluice up --split` runs them, so
 * a test can SIGKILL one kind and start it again. Each restart is a new process; the output of
 * every process that ever ran is kept for a failing test's message.
 */
export class SplitPipeline {
  private readonly env: Record<string, string>;
  private readonly running = new Map<ActorName, SluiceProcess>();
  private readonly finished: Array<{ name: ActorName; process: SluiceProcess; killedBy?: NodeJS.Signals }> = [];

  private constructor(env: Record<string, string>) {
    this.env = env;
  }

  static start(env: Record<string, string>, names: readonly ActorName[] = ACTOR_NAMES): SplitPipeline {
    const pipeline = new SplitPipeline(env);
    for (const name of names) pipeline.launch(name);
    return pipeline;
  }

  private launch(name: ActorName): void {
    this.running.set(name, SluiceProcess.start(["actor", name], this.env));
  }

  /** Sends `signal` to the actor's process and waits for it to exit; then starts a new one. */
  async killAndRestart(name: ActorName, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const process = this.running.get(name);
    if (!process) throw new Error(`actor ${name} is not running in this pipeline`);
    await process.kill(signal);
    this.finished.push({ name, process, killedBy: signal });
    this.launch(name);
  }

  /** Actors whose current process has exited without being told to: a crash the test did not cause. */
  exited(): Array<{ name: ActorName; code: number | null; signal: NodeJS.Signals | null; output: string }> {
    return [...this.running.entries()]
      .filter(([, p]) => p.child.exitCode !== null || p.child.signalCode !== null)
      .map(([name, p]) => ({ name, code: p.child.exitCode, signal: p.child.signalCode, output: p.output.slice(-2_000) }));
  }

  /** The last lines every process of `name` wrote, oldest first. */
  output(name: ActorName, lines = 20): string {
    const all = [...this.finished.filter((f) => f.name === name).map((f) => f.process), ...[this.running.get(name)].filter((p) => p !== undefined)];
    return all.map((p, i) => `--- ${name} process ${i + 1}:\n${p.output.split("\n").slice(-lines).join("\n")}`).join("\n");
  }

  /** SIGTERM to every process (drain), SIGKILL to any still there after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    await Promise.all([...this.running.values()].map(async (p) => {
      const timer = setTimeout(() => p.child.kill("SIGKILL"), graceMs);
      await p.kill("SIGTERM");
      clearTimeout(timer);
    }));
    for (const [name, process] of this.running) this.finished.push({ name, process });
    this.running.clear();
  }
}

import { SluiceProcess } from "../tests/harness/sluice-process.ts";
import { waitFor } from "../tests/harness/wait.ts";

export interface SluiceUp {
  readonly process: SluiceProcess;
  /** Where its HTTP API listens (from the banner). */
  readonly apiUrl: string;
}

/**
 * `sluice up <args>` as a child on our nats-server and state dir, API on a free port, waited for
 * until its banner is printed and, with `--split`, every actor process says it runs.
 */
export async function startSluiceUp(args: readonly string[], natsUrl: string, stateDir: string, env: Record<string, string> = {}): Promise<SluiceUp> {
  const up = SluiceProcess.start(["up", ...args], { NATS_URL: natsUrl, SLUICE_STATE_DIR: stateDir, SLUICE_API_PORT: "0", SLUICE_LOG_LEVEL: "info", ...env });
  const ready = () => {
    const apiUrl = up.output.match(/^\s+API\s+(http:\/\/\S+)/m)?.[1];
    // With --split, `sluice up` logs its groups ("actor processes: validate; window; …"); each child logs "actors running".
    const groups = up.output.match(/actor processes: (.*)$/m)?.[1].split("; ").length ?? 0;
    return apiUrl && up.output.split("actors running").length - 1 >= groups ? apiUrl : undefined;
  };
  const apiUrl = await waitFor(async () => ready(), (url) => url !== undefined || up.child.exitCode !== null, 180_000, 100);
  if (!apiUrl) {
    await stopProcess(up);
    throw new Error(`sluice up ${args.join(" ")} did not come up:\n${up.output.slice(-2_000)}`);
  }
  return { process: up, apiUrl };
}

/** SIGTERM (drain), then SIGKILL if it is still there after `graceMs`. */
export async function stopProcess(p: SluiceProcess, graceMs = 20_000): Promise<void> {
  const timer = setTimeout(() => p.child.kill("SIGKILL"), graceMs);
  await p.kill("SIGTERM");
  clearTimeout(timer);
}

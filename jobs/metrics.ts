import type { Outcome } from "./run.ts";

/** Per-job counters of this process, for `/metrics`. */
interface JobCounters {
  attempts: Record<string, number>;
  lastSuccessMs: number;
  gaveUp: number;
}

const registry = new Map<string, JobCounters>();

export function countAttempt(job: string, outcome: Outcome, endedAtMs: number): void {
  const c = registry.get(job) ?? { attempts: {}, lastSuccessMs: 0, gaveUp: 0 };
  c.attempts[outcome] = (c.attempts[outcome] ?? 0) + 1;
  if (outcome === "ok") c.lastSuccessMs = endedAtMs;
  registry.set(job, c);
}

export function countGaveUp(job: string): void {
  const c = registry.get(job) ?? { attempts: {}, lastSuccessMs: 0, gaveUp: 0 };
  c.gaveUp++;
  registry.set(job, c);
}

/** The jobs' series in Prometheus text format (HELP and TYPE once each). */
export function jobMetricsText(): string {
  const lines = [
    "# HELP sluice_job_attempts_total Attempts of each scheduled job, by outcome.",
    "# TYPE sluice_job_attempts_total counter",
  ];
  for (const [job, c] of registry) for (const [outcome, n] of Object.entries(c.attempts)) lines.push(`sluice_job_attempts_total{job="${job}",outcome="${outcome}"} ${n}`);
  lines.push("# HELP sluice_job_gave_up_total Runs that failed every attempt (an alert was raised).", "# TYPE sluice_job_gave_up_total counter");
  for (const [job, c] of registry) lines.push(`sluice_job_gave_up_total{job="${job}"} ${c.gaveUp}`);
  lines.push("# HELP sluice_job_last_success_seconds When each job last succeeded, Unix seconds.", "# TYPE sluice_job_last_success_seconds gauge");
  for (const [job, c] of registry) lines.push(`sluice_job_last_success_seconds{job="${job}"} ${Math.floor(c.lastSuccessMs / 1000)}`);
  return `${lines.join("\n")}\n`;
}

/**
 * Requests refused for lack of privilege, per surface and reason, in this process; rendered by
 * `/metrics` as `sluice_denied_total{surface,reason}`. Counted where the refusal is decided, so
 * a test can see that a denial was both answered and recorded.
 */
/** `nats`: the server refused a publish or subscription of this process (counted by nats/connect.ts, reason = the operation). */
export type DenialSurface = "sql_rpc" | "api" | "nats";

const counts = new Map<string, number>();
const key = (surface: DenialSurface, reason: string) => `${surface}\0${reason}`;

export function countDenial(surface: DenialSurface, reason: string): void {
  const k = key(surface, reason);
  counts.set(k, (counts.get(k) ?? 0) + 1);
}

export function denialCount(surface: DenialSurface, reason: string): number {
  return counts.get(key(surface, reason)) ?? 0;
}

/** Every counter so far, sorted for a stable `/metrics` page. */
export function allDenials(): Array<{ surface: DenialSurface; reason: string; count: number }> {
  return [...counts]
    .map(([k, count]) => {
      const [surface, reason] = k.split("\0") as [DenialSurface, string];
      return { surface, reason, count };
    })
    .sort((a, b) => a.surface.localeCompare(b.surface) || a.reason.localeCompare(b.reason));
}

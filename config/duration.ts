/**
 * How sluice reads a duration or a time a person wrote: `--since` flags, the API's `since`
 * parameter, durations in expectation files. One grammar everywhere, so `90m` means the same in each.
 */

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
/** Far enough for any retention; longer is a typo, and its epoch arithmetic would leave the safe range. */
const MAX_DURATION_MS = 100 * 365 * UNIT_MS.d;

/** Milliseconds of `500ms`, `90s`, `15m`, `1.5h`, `7d`; undefined when the text is no duration or longer than 100 years. */
export function parseDurationMs(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  return ms <= MAX_DURATION_MS ? ms : undefined;
}

/**
 * Epoch ms of a time written as a duration back from `nowMs` (`15m`, `2h`), epoch milliseconds
 * (`1764284400000`), or RFC 3339 (`2026-11-27T10:00:00Z`, or a date); undefined when it is none of these.
 */
export function parseSinceMs(text: string, nowMs: number): number | undefined {
  const back = parseDurationMs(text);
  if (back !== undefined) return nowMs - back;
  const value = text.trim();
  if (/^\d{1,16}$/.test(value)) return Number(value);
  const at = Date.parse(value);
  return Number.isFinite(at) && /^\d{4}-\d{2}-\d{2}/.test(value) ? at : undefined;
}

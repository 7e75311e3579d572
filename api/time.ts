/** "2026-01-01 10:00:00.123" (DateTime64 text, UTC) or epoch seconds → RFC 3339. */
export function isoTime(value: unknown): string {
  if (typeof value === "number" || (typeof value === "string" && /^\d+$/.test(value))) return new Date(Number(value) * 1000).toISOString();
  const text = String(value);
  return new Date(`${text.replace(" ", "T")}Z`).toISOString();
}

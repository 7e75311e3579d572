/** What a redacted field of a raw message says instead of its value. */
export const NOT_SHOWN_RAW = "(not shown: the stored event holds this field otherwise, e.g. protected; sluice lineage event on the host shows the original)";

/**
 * A raw message (JSON text) as a reader without the keyring may see it: every top-level field
 * whose value is not exactly what the stored event holds (masked, tokenized, encrypted,
 * generalized, dropped, or changed by an upcast) is replaced by {@link NOT_SHOWN_RAW}. Needs no
 * schema: the stored payload shows what the ingest chain did, whichever schema (shipped or an
 * operator's) said so. Text that is no JSON object is withheld entirely (undefined); with nothing
 * to withhold, the text is returned as it is.
 */
export function redactRaw(text: string, storedPayload: unknown): string | undefined {
  const stored = storedPayload !== null && typeof storedPayload === "object" ? (storedPayload as Readonly<Record<string, unknown>>) : {};
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return undefined;
  let withheld = false;
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(raw)) {
    const same = field in stored && JSON.stringify(stored[field]) === JSON.stringify(value);
    withheld ||= !same;
    out[field] = same ? value : NOT_SHOWN_RAW;
  }
  // Nothing withheld: the bytes as they came, not a re-serialization.
  return withheld ? JSON.stringify(out) : text;
}

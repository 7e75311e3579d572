import { REFERENCE_KINDS, type ReferenceKind } from "./kinds.ts";

/** One row of a reference file: the entity's key and its fields, with the line it came from. */
export interface ReferenceRow {
  readonly line: number;
  readonly key: string;
  readonly fields: Record<string, unknown>;
}

export interface ParsedReferences {
  readonly rows: ReferenceRow[];
  /** Every malformed row, by line number; a load with any writes nothing. */
  readonly errors: Array<{ readonly line: number; readonly message: string }>;
}

/** What a NATS KV key may hold. */
const KV_KEY = /^[-/=.\w]+$/;
const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?$/;

/** Splits one CSV line (RFC 4180 quoting, no line breaks inside fields). */
function csvCells(line: string): string[] | undefined {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let cell = "";
      i++;
      for (;;) {
        if (i >= line.length) return undefined;
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            cell += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        cell += line[i++];
      }
      cells.push(cell);
      if (i < line.length && line[i] !== ",") return undefined;
    } else {
      const end = line.indexOf(",", i);
      cells.push((end < 0 ? line.slice(i) : line.slice(i, end)).trim());
      i = end < 0 ? line.length : end;
    }
    if (i >= line.length) return cells;
    i++;
  }
}

/**
 * Reads a reference file of `kind`: CSV with a header row (`format` "csv"; numbers become numbers)
 * or one JSON object per line ("jsonl"). The key is the kind's id field (`merchant_id` for
 * merchants) or a `key` column; the other columns are the entry's fields.
 */
export function parseReferences(kind: ReferenceKind, format: "csv" | "jsonl", text: string): ParsedReferences {
  const keyField = REFERENCE_KINDS[kind].keyField;
  const rows: ReferenceRow[] = [];
  const errors: Array<{ line: number; message: string }> = [];
  const lines = text.split(/\r?\n/);
  const seen = new Map<string, number>();
  const add = (line: number, record: Record<string, unknown>) => {
    const { [keyField]: idField, key: keyColumn, ...fields } = record;
    const key = idField ?? keyColumn;
    if (typeof key !== "string" || !KV_KEY.test(key)) return errors.push({ line, message: `${keyField} (or key) must be a non-empty id of letters, digits and - / = . _, got ${JSON.stringify(key)}` });
    if (seen.has(key)) return errors.push({ line, message: `${keyField} ${key} is also on line ${seen.get(key)}` });
    seen.set(key, line);
    rows.push({ line, key, fields });
  };
  if (format === "jsonl") {
    lines.forEach((text, i) => {
      if (!text.trim()) return;
      let record: unknown;
      try {
        record = JSON.parse(text);
      } catch {
        return errors.push({ line: i + 1, message: "is not valid JSON" });
      }
      if (!record || typeof record !== "object" || Array.isArray(record)) return errors.push({ line: i + 1, message: "must be one JSON object" });
      add(i + 1, record as Record<string, unknown>);
    });
    return { rows, errors };
  }
  const header = csvCells(lines[0] ?? "");
  if (!header || header.length === 0 || !(header.includes(keyField) || header.includes("key"))) {
    return { rows, errors: [{ line: 1, message: `the header must name a ${keyField} (or key) column` }] };
  }
  lines.slice(1).forEach((text, i) => {
    const line = i + 2;
    if (!text.trim()) return;
    const cells = csvCells(text);
    if (!cells) return errors.push({ line, message: "has an unterminated quote" });
    if (cells.length !== header.length) return errors.push({ line, message: `has ${cells.length} cells; the header has ${header.length}` });
    add(line, Object.fromEntries(header.map((name, c) => [name, NUMBER.test(cells[c]) && name !== keyField && name !== "key" ? Number(cells[c]) : cells[c]])));
  });
  return { rows, errors };
}

/** The stored form of an entry: keys sorted, so an unchanged row compares equal whatever its column order. */
export function canonicalEntry(fields: Readonly<Record<string, unknown>>): string {
  return JSON.stringify(Object.fromEntries(Object.keys(fields).sort().map((k) => [k, fields[k]])));
}

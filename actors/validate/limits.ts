/**
 * What a JSON payload may be beyond its schema, checked before anything recurses into it: nesting
 * no deeper than {@link MAX_DEPTH} (JSON.stringify and ClickHouse's JSON functions recurse, and a
 * stack overflow would fail the whole batch), numbers finite (`1e999` parses to Infinity, which
 * JSON.stringify would turn into null), and an `event_id` without control characters (it becomes
 * the `Nats-Msg-Id` header of the event).
 */
export const MAX_DEPTH = 64;

export interface ShapeProblem {
  readonly code: "too_deep" | "number_range" | "event_id";
  readonly field: string;
  readonly message: string;
}

const CONTROL = /[\u0000-\u001f\u007f]/;

function pointer(path: readonly (string | number)[]): string {
  return "/" + path.map((p) => String(p).replace(/~/g, "~0").replace(/\//g, "~1")).join("/");
}

/** The first problem found walking `data` (iteratively, so any depth is safe), or undefined. */
export function shapeProblem(data: Record<string, unknown>): ShapeProblem | undefined {
  const id = data.event_id;
  if (typeof id === "string" && CONTROL.test(id)) {
    return { code: "event_id", field: "/event_id", message: `/event_id must not contain control characters (it becomes a Nats-Msg-Id header), got ${JSON.stringify(id.slice(0, 60))}` };
  }
  const stack: Array<{ value: unknown; path: (string | number)[] }> = [{ value: data, path: [] }];
  while (stack.length) {
    const { value, path } = stack.pop()!;
    if (typeof value === "number" && !Number.isFinite(value)) {
      return { code: "number_range", field: pointer(path), message: `${pointer(path)} is a number beyond double precision (${value}); expected a finite number` };
    }
    if (value === null || typeof value !== "object") continue;
    if (path.length >= MAX_DEPTH) {
      return { code: "too_deep", field: pointer(path), message: `${pointer(path.slice(0, 3))}… nests deeper than ${MAX_DEPTH} levels; expected at most ${MAX_DEPTH}` };
    }
    if (Array.isArray(value)) value.forEach((v, i) => stack.push({ value: v, path: [...path, i] }));
    else for (const [k, v] of Object.entries(value)) stack.push({ value: v, path: [...path, k] });
  }
  return undefined;
}

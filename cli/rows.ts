import type { Config } from "../config/index.ts";
import { querySluice } from "./sql.ts";

/** Rows of one SELECT as objects, column name → value. */
export type Rows = (sql: string) => Promise<Array<Record<string, unknown>>>;

/**
 * SELECTs the way `sluice sql` runs them (the running owner over NATS, else the engine itself),
 * one at a time: without a running owner each query opens the embedded engine, which only one
 * client may hold.
 */
export function sluiceRows(config: Config): Rows {
  let queue: Promise<unknown> = Promise.resolve();
  return (sql) => {
    const next = queue.then(async () => {
      const { columns, rows } = await querySluice(config, sql);
      return (rows as unknown[][]).map((r) => Object.fromEntries(columns.map((c, i) => [c.name, r[i]])));
    });
    queue = next.catch(() => undefined);
    return next;
  };
}

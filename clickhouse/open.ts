import { setTimeout as sleep } from "node:timers/promises";
import { openClickHouse, type OpenClickHouse, type OpenClickHouseOptions } from "./client.ts";
import { AbortedError } from "../nats/deadline.ts";
import { classifyInsertFailure } from "./errors.ts";
import { migrate } from "./migrations.ts";

export interface WaitOptions {
  /** Ends the wait (Ctrl-C) with an AbortedError. */
  readonly signal?: AbortSignal;
  readonly log: { info(msg: string): void; warn(msg: string): void };
  readonly maxDelayMs?: number;
}

/**
 * Opens and migrates ClickHouse, waiting for a server that is down, overloaded or restarting —
 * a sink process started during an outage must wait it out like its inserts do, not exit. Only
 * failures the insert classifier calls transient are waited for; anything else (a data directory
 * another process holds, a server too old) is thrown at once. The wait is logged once.
 */
export async function openWhenReachable(opts: OpenClickHouseOptions, wait: WaitOptions): Promise<OpenClickHouse> {
  const maxDelayMs = wait.maxDelayMs ?? 5_000;
  let waitingSince: number | undefined;
  for (let attempt = 0; ; attempt++) {
    let opened: OpenClickHouse | undefined;
    try {
      opened = await openClickHouse(opts);
      await migrate(opened.client, opened.caps);
      if (waitingSince !== undefined) wait.log.info(`ClickHouse at ${opened.target} reachable after ${((Date.now() - waitingSince) / 1000).toFixed(1)} s`);
      return opened;
    } catch (err) {
      await opened?.close().catch(() => undefined);
      if (wait.signal?.aborted) throw new AbortedError("waiting for ClickHouse");
      if (classifyInsertFailure(err).kind !== "transient") throw err;
      if (waitingSince === undefined) {
        waitingSince = Date.now();
        wait.log.warn(`waiting for ClickHouse (retrying): ${err instanceof Error ? err.message : String(err)}`);
      }
      await sleep(Math.min(maxDelayMs, 250 * 2 ** attempt), undefined, { signal: wait.signal }).catch(() => undefined);
      if (wait.signal?.aborted) throw new AbortedError("waiting for ClickHouse");
    }
  }
}

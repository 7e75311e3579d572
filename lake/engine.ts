import { createClient, type ClickHouseClient, type ClickHouseClientConfigOptions } from "@clickhouse/client";

/** The engine that reads and writes Parquet for the lake, and how to let go of it. */
export interface LakeEngine {
  readonly client: ClickHouseClient;
  close(): Promise<void>;
}

/**
 * chDB, in memory, for a process that has no embedded engine open: with a ClickHouse server
 * (18.16 reads no Parquet and speaks no S3) or none at all. libchdb binds one data directory per
 * process, so a process that already runs the embedded engine must pass that client instead
 * (see `actors/pipeline.ts`); opening a second one would close the first.
 */
export async function openMemoryEngine(): Promise<LakeEngine> {
  const chdb = await import("chdb");
  const { createChdbConnection } = await import("chdb/connection");
  // chdb types its connection against its own copy of @clickhouse/client-common; the shapes match.
  const connection = createChdbConnection({ path: ":memory:" }) as unknown as NonNullable<ClickHouseClientConfigOptions["connection"]>;
  const client = createClient({ connection });
  return {
    client,
    async close() {
      await client.close();
      await chdb.drainPending();
    },
  };
}

/** Borrows a client someone else opened and will close. */
export function borrowedEngine(client: ClickHouseClient): LakeEngine {
  return { client, close: async () => undefined };
}

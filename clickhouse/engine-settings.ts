/**
 * Server settings of the embedded engine. chDB starts with a server's defaults, sized for a
 * machine ClickHouse has to itself: a memory limit of 90 % of RAM, a 5 GiB mark cache, a 5 GiB
 * primary-index cache, a 5 GiB secondary-index mark cache, 128 MiB of compiled expressions,
 * 512 MiB of Parquet metadata. In sluice the engine shares one process with every actor, so each
 * cache is sized for sluice's tables (a few MergeTree tables, one day partition each) and the
 * engine as a whole is capped (`SLUICE_CHDB_MEMORY_MB`, default {@link DEFAULT_ENGINE_MEMORY_MB}).
 * A query over the cap fails with ClickHouse's MEMORY_LIMIT_EXCEEDED and names the limit; raise
 * the setting for larger ad-hoc queries.
 *
 * These are server settings, not query settings: they take effect only when given to the first
 * connection that starts the engine in the process (clickhouse/client.ts opens that one).
 */
const MiB = 1024 * 1024;

export const DEFAULT_ENGINE_MEMORY_MB = 1024;

/** Bytes per cache; caches fill only as far as the data read needs. */
export const EMBEDDED_CACHE_BYTES = {
  /** Marks of the parts queries read: sluice's tables have a handful of parts per day. */
  mark_cache_size: 64 * MiB,
  primary_index_cache_size: 32 * MiB,
  index_mark_cache_size: 16 * MiB,
  index_uncompressed_cache_size: 0,
  uncompressed_cache_size: 0,
  compiled_expression_cache_size: 16 * MiB,
  query_condition_cache_size: 16 * MiB,
  /** The lake's Parquet files, read by replay and the lake views. */
  parquet_metadata_cache_size: 16 * MiB,
  iceberg_metadata_files_cache_size: 8 * MiB,
  vector_similarity_index_cache_size: 8 * MiB,
  text_index_header_cache_size: 8 * MiB,
  text_index_tokens_cache_size: 8 * MiB,
  text_index_postings_cache_size: 8 * MiB,
  unique_key_index_cache_size_bytes: 8 * MiB,
} as const;

/** The engine's command-line arguments (`clickhouse local` form) for a memory cap of `memoryMb`. */
export function embeddedEngineArgs(memoryMb = DEFAULT_ENGINE_MEMORY_MB): string[] {
  const limit = memoryMb * MiB;
  return [
    `--max_server_memory_usage=${limit}`,
    // Merges back off (rather than fail inserts) well before the cap.
    `--merges_mutations_memory_usage_soft_limit=${Math.floor(limit / 2)}`,
    ...Object.entries(EMBEDDED_CACHE_BYTES).map(([name, bytes]) => `--${name}=${bytes}`),
  ];
}

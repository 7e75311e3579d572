import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import type { ClickHouseClient } from "@clickhouse/client";
import { quoteString } from "../clickhouse/query.ts";
import { fileKey, parseFileKey, type Dataset, type LakeFile } from "./layout.ts";
import type { LakeLocation } from "./location.ts";
import { LAKE_STRUCTURE, STAGED_SELECT, STAGED_STRUCTURE, toTabSeparated, type LakeRow } from "./rows.ts";
import { signedHeaders } from "./sigv4.ts";

/** A lake file could not be written, listed or read; `key` names it below the lake root. */
export class LakeStoreError extends Error {
  readonly key: string;
  constructor(message: string, key: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LakeStoreError";
    this.key = key;
  }
}

/**
 * The engine retries an unreachable S3 500 times on its own, which makes an outage look like a
 * hang; a few attempts, then the caller's own backoff (which logs the wait) takes over.
 */
const S3_SETTINGS = { s3_retry_attempts: "3" } as const;

const WRITE_SETTINGS = {
  ...S3_SETTINGS,
  output_format_parquet_compression_method: "zstd",
  engine_file_truncate_on_insert: 1,
  s3_truncate_on_insert: 1,
} as const;

/**
 * Reads and writes the lake's Parquet files through an embedded ClickHouse engine (chDB), which
 * writes Parquet and S3 itself. Visibility is atomic: a local file is written under a temp name,
 * fsync'ed, renamed and its directory fsync'ed; an S3 object appears only when its upload
 * completes (a PUT, or a multipart upload's completion, is atomic). `write` resolves only once the
 * file is durable, so a caller may then forget the rows.
 */
export class LakeStore {
  readonly location: LakeLocation;
  private readonly engine: ClickHouseClient;

  constructor(location: LakeLocation, engine: ClickHouseClient) {
    this.location = location;
    this.engine = engine;
  }

  async write(file: LakeFile, rows: readonly LakeRow[]): Promise<void> {
    const key = fileKey(file);
    const body = toTabSeparated(rows);
    const copy = (target: string) => this.insert(target, `SELECT ${STAGED_SELECT} FROM file({staged}, 'TabSeparated', ${quoteString(STAGED_STRUCTURE)})`, body, key);
    if (this.location.kind === "s3") return copy(this.tableFunction(key, { exact: true }));
    await this.durableLocal(key, (tmp) => copy(this.tableFunction(tmp, { exact: true })));
  }

  /**
   * Puts a file that is no dataset's Parquet (a report's HTML, PDF or entry JSON) at `key` below
   * the root, with the same atomic, durable visibility as `write`: the engine copies the bytes
   * as they are (RawBLOB) to a local temp name then renamed, or in one S3 upload.
   */
  async putObject(key: string, body: Buffer | string): Promise<void> {
    const blob = (path: string) => this.tableFunction(path, { exact: true, raw: true });
    const copy = (target: string) => this.insert(target, `SELECT data FROM file({staged}, 'RawBLOB', 'data String')`, Buffer.from(body), key);
    if (this.location.kind === "s3") return copy(blob(key));
    await this.durableLocal(key, (tmp) => copy(blob(tmp)));
  }

  /** Writes `key` under a temp name, fsyncs it, renames it into place and fsyncs its directory. */
  private async durableLocal(key: string, writeTo: (tmp: string) => Promise<void>): Promise<void> {
    const final = join((this.location as Extract<LakeLocation, { kind: "dir" }>).root, key);
    const dir = dirname(final);
    await mkdir(dir, { recursive: true });
    await removeStaleTemps(dir, basename(final));
    const tmp = `${final}.tmp-${randomBytes(6).toString("hex")}`;
    try {
      await writeTo(tmp);
      const fh = await open(tmp, "r+");
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, final);
      const dh = await open(dir, "r");
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  /** The files of `dataset` (of one source when given), ordered by source and first sequence. */
  async list(dataset: Dataset, source?: string): Promise<LakeFile[]> {
    const under = `${dataset}/${source ? `source=${source}/` : ""}`;
    const keys = this.location.kind === "s3" ? await this.listS3(under) : await listDir(this.location.root, under);
    return keys.flatMap((k) => parseFileKey(k) ?? []).sort((a, b) => (a.source === b.source ? a.firstSeq - b.firstSeq : a.source < b.source ? -1 : 1));
  }

  /** A file's rows in sequence order. */
  async read(file: LakeFile): Promise<LakeRow[]> {
    const key = fileKey(file);
    const query = `SELECT stream, seq, subject, toUnixTimestamp64Milli(stream_time) AS ts, headers, base64Encode(data) AS data FROM ${this.fileFunction(key)} ORDER BY seq`;
    try {
      const result = await this.engine.query({ query, format: "JSONEachRow", clickhouse_settings: { ...S3_SETTINGS, output_format_json_quote_64bit_integers: 0 } });
      const rows = await result.json<{ stream: string; seq: number; subject: string; ts: number; headers: Record<string, string>; data: string }>();
      return rows.map((r) => ({ stream: r.stream, seq: Number(r.seq), subject: r.subject, timestampMs: Number(r.ts), headers: r.headers, data: Buffer.from(r.data, "base64") }));
    } catch (err) {
      throw new LakeStoreError(`reading lake file ${key} failed: ${this.redact(err)}`, key, { cause: err });
    }
  }

  /**
   * Deletes a file (compaction, retention). Locally unlink and fsync the directory; on S3 a signed
   * DELETE (the engine removes no objects). Deleting a file that is gone is no error.
   */
  async remove(file: LakeFile): Promise<void> {
    const key = fileKey(file);
    if (this.location.kind === "dir") {
      const path = join(this.location.root, key);
      await rm(path, { force: true });
      const dh = await open(dirname(path), "r").catch(() => undefined);
      try {
        await dh?.sync();
      } finally {
        await dh?.close();
      }
      return;
    }
    const { base, prefix, accessKeyId, secretAccessKey, region } = this.location;
    const url = new URL(`${base}/${prefix ? `${prefix}/` : ""}${key}`);
    const headers = accessKeyId && secretAccessKey ? signedHeaders("DELETE", url, { accessKeyId, secretAccessKey, region }) : {};
    let response: Response;
    try {
      response = await fetch(url, { method: "DELETE", headers, signal: AbortSignal.timeout(30_000) });
    } catch (err) {
      throw new LakeStoreError(`deleting lake file ${key} from ${this.location.url} failed: ${this.redact(err)}`, key, { cause: err });
    }
    if (!response.ok && response.status !== 404) {
      throw new LakeStoreError(`deleting lake file ${key} from ${this.location.url} failed: HTTP ${response.status} ${(await response.text()).slice(0, 300)}`, key);
    }
  }

  /** How many of a file's rows have a stream time in [fromMs, toMs) (Parquet metadata when unbounded). */
  async count(file: LakeFile, range: { readonly fromMs?: number; readonly toMs?: number } = {}): Promise<number> {
    const key = fileKey(file);
    const where = [
      range.fromMs === undefined ? "" : `toUnixTimestamp64Milli(stream_time) >= ${Math.floor(range.fromMs)}`,
      range.toMs === undefined ? "" : `toUnixTimestamp64Milli(stream_time) < ${Math.floor(range.toMs)}`,
    ].filter(Boolean);
    const query = `SELECT count() AS n FROM ${this.fileFunction(key)}${where.length ? ` WHERE ${where.join(" AND ")}` : ""}`;
    try {
      const result = await this.engine.query({ query, format: "JSONEachRow", clickhouse_settings: { ...S3_SETTINGS, output_format_json_quote_64bit_integers: 0 } });
      return Number((await result.json<{ n: number }>())[0]?.n ?? 0);
    } catch (err) {
      throw new LakeStoreError(`counting lake file ${key} failed: ${this.redact(err)}`, key, { cause: err });
    }
  }

  /**
   * The table function over `keyOrPath`: a key or glob below the root (see `datasetGlob`),
   * or with `exact` an absolute local path. Views leave the credentials out (`credentials: false`):
   * the engine then takes them from the process's AWS variables, and no statement it stores
   * carries a secret. With `raw` the file is bytes (RawBLOB, one String column `data`), not Parquet.
   */
  tableFunction(keyOrPath: string, opts: { exact?: boolean; credentials?: boolean; raw?: boolean } = {}): string {
    const format = opts.raw ? `'RawBLOB', 'data String'` : `'Parquet', ${quoteString(LAKE_STRUCTURE)}`;
    if (this.location.kind === "dir") {
      const path = opts.exact ? keyOrPath : join(this.location.root, keyOrPath);
      return `file(${quoteString(path)}, ${format})`;
    }
    const { base, prefix, accessKeyId, secretAccessKey } = this.location;
    const url = quoteString(`${base}/${prefix ? `${prefix}/` : ""}${keyOrPath}`);
    const creds = opts.credentials !== false && accessKeyId && secretAccessKey ? `${quoteString(accessKeyId)}, ${quoteString(secretAccessKey)}, ` : "";
    return `s3(${url}, ${creds}${format})`;
  }

  /** The table function over one file of the lake. */
  private fileFunction(key: string): string {
    return this.tableFunction(this.location.kind === "s3" ? key : join(this.location.root, key), { exact: true });
  }

  /**
   * The rows go to the engine as a staged TabSeparated file it reads itself: streaming the same
   * bytes through the client's insert was 8 times slower (20k rows: 800 ms against 100 ms).
   */
  private async insert(target: string, select: string, body: Buffer, key: string): Promise<void> {
    const staged = join(tmpdir(), `sluice-lake-${process.pid}-${randomBytes(6).toString("hex")}`);
    try {
      await writeFile(staged, body);
      const settings = Object.entries(WRITE_SETTINGS).map(([k, v]) => `${k} = ${quoteString(String(v))}`).join(", ");
      await this.engine.command({ query: `INSERT INTO FUNCTION ${target} ${select.replace("{staged}", quoteString(staged))} SETTINGS ${settings}` });
    } catch (err) {
      throw new LakeStoreError(`writing lake file ${key} to ${this.location.url} failed: ${this.redact(err)}`, key, { cause: err });
    } finally {
      await rm(staged, { force: true });
    }
  }

  private async listS3(under: string): Promise<string[]> {
    const { prefix, bucket } = this.location as Extract<LakeLocation, { kind: "s3" }>;
    const root = prefix ? `${prefix}/` : "";
    const query = `SELECT DISTINCT _path FROM ${this.tableFunction(`${under}**.parquet`).replace(/'Parquet', '[^']*'\)$/, "'One')")}`;
    try {
      const result = await this.engine.query({ query, format: "JSONEachRow", clickhouse_settings: S3_SETTINGS });
      const rows = await result.json<{ _path: string }>();
      // _path is "<bucket>/<key>"; the One format can give a file more than one row.
      return rows.map((r) => r._path.slice(`${bucket}/${root}`.length));
    } catch (err) {
      // A glob that matches nothing is an error to the engine, not an empty answer.
      if (/CANNOT_EXTRACT_TABLE_STRUCTURE|no files|Failed to get object info|doesn't exist/i.test(String(err))) return [];
      throw new LakeStoreError(`listing ${under} on ${this.location.url} failed: ${this.redact(err)}`, under, { cause: err });
    }
  }

  /** An engine error without the credentials the statement carried. */
  private redact(err: unknown): string {
    let text = err instanceof Error ? err.message : String(err);
    if (this.location.kind === "s3" && this.location.secretAccessKey) text = text.split(this.location.secretAccessKey).join("***");
    return text.length > 600 ? `${text.slice(0, 600)}…` : text;
  }
}

/** Temp files a crashed write of the same file left behind: the rewrite supersedes them. */
async function removeStaleTemps(dir: string, name: string): Promise<void> {
  const prefix = `${name}.tmp-`;
  for (const entry of await readdir(dir)) if (entry.startsWith(prefix)) await rm(join(dir, entry), { force: true });
}

async function listDir(root: string, under: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path);
      else if (e.name.endsWith(".parquet")) out.push(relative(root, path));
    }
  };
  await walk(join(root, under));
  return out;
}

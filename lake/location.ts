import { isAbsolute, resolve } from "node:path";

/**
 * Where the lake lives: a local directory, or a bucket and key prefix on S3 (or anything that
 * speaks its API, such as MinIO or s3rver).
 *
 * @example
 * parseLakeUrl("s3://lake/prod", { endpoint: "http://127.0.0.1:9000" })
 * // { kind: "s3", bucket: "lake", prefix: "prod", url: "s3://lake/prod", … }
 */
export type LakeLocation =
  | { readonly kind: "dir"; readonly root: string; readonly url: string }
  | {
      readonly kind: "s3";
      readonly bucket: string;
      /** Key prefix without leading or trailing slash ("" for the bucket's root). */
      readonly prefix: string;
      /** HTTP(S) base the objects are addressed under: `<base>/<key>`. */
      readonly base: string;
      readonly accessKeyId: string | undefined;
      readonly secretAccessKey: string | undefined;
      /** For request signing (AWS_REGION); s3rver and MinIO take any. */
      readonly region: string;
      readonly url: string;
    };

/** The usual AWS variables (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY). */
export interface S3Settings {
  /** Path-style endpoint, e.g. a MinIO or s3rver at http://127.0.0.1:9000; else AWS's virtual-hosted one. */
  readonly endpoint?: string;
  readonly region?: string;
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
}

export class LakeUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LakeUrlError";
  }
}

/** A plain path, `file:///abs/path` or `s3://bucket[/prefix]`; relative paths resolve against `cwd`. */
export function parseLakeUrl(raw: string, s3: S3Settings = {}, cwd = process.cwd()): LakeLocation {
  if (raw.startsWith("s3://")) {
    const rest = raw.slice("s3://".length);
    const [bucket, ...parts] = rest.split("/");
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket ?? "")) throw new LakeUrlError(`lake url ${JSON.stringify(raw)}: expected s3://<bucket>[/prefix] with a bucket name of 3-63 lower-case letters, digits, dots and hyphens`);
    const prefix = parts.filter((p) => p !== "").join("/");
    if (/[*?{}']/.test(prefix)) throw new LakeUrlError(`lake url ${JSON.stringify(raw)}: the prefix may not contain * ? { } or '`);
    const base = s3.endpoint
      ? `${s3.endpoint.replace(/\/+$/, "")}/${bucket}`
      : `https://${bucket}.s3.${s3.region || "us-east-1"}.amazonaws.com`;
    return { kind: "s3", bucket, prefix, base, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, region: s3.region || "us-east-1", url: `s3://${bucket}${prefix ? `/${prefix}` : ""}` };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) && !raw.startsWith("file://")) {
    throw new LakeUrlError(`lake url ${JSON.stringify(raw)}: expected a directory, file:///path or s3://bucket/prefix`);
  }
  const path = raw.startsWith("file://") ? new URL(raw).pathname : raw;
  if (/[*?{}']/.test(path)) throw new LakeUrlError(`lake url ${JSON.stringify(raw)}: the path may not contain * ? { } or '`);
  const root = isAbsolute(path) ? resolve(path) : resolve(cwd, path);
  return { kind: "dir", root, url: root };
}

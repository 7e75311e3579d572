import type { Context, MiddlewareHandler } from "hono";
import { countDenial } from "../auth/denials.ts";
import { findToken, roleAllows, type Role, type TokenRecord } from "../auth/tokens.ts";

/** Who made a request: a token's name and role, or nobody when tokens are not enforced. */
export interface Principal {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
}

declare module "hono" {
  interface ContextVariableMap {
    principal: Principal | undefined;
  }
}

export interface AuthOptions {
  /** The stored tokens, current (auth/tokens.ts watchTokens). */
  readonly tokens: () => readonly TokenRecord[];
  /** `SLUICE_API_AUTH=required`: enforced even before any token exists. Otherwise enforced once one does. */
  readonly required?: boolean;
  /** `SLUICE_API_METRICS_AUTH=on`: `/metrics` needs a viewer token too. */
  readonly metricsAuth?: boolean;
  /** Requests per second per token; bursts of twice that. Default 50. */
  readonly ratePerSecond?: number;
  readonly now?: () => number;
}

type Problem = (c: Context, status: 401 | 403 | 429, field: string | undefined, message: string, hint: string) => Response;

/** The dashboard's own files and the probes (a login box must load before there is a token), and `/metrics` unless it is configured closed. */
export function isOpenPath(path: string, metricsAuth = false): boolean {
  return /^\/(?:healthz|readyz|openapi\.json|ui\/.*)?$/.test(path) || (path === "/metrics" && !metricsAuth);
}

/** The role a route needs: reads (and scoring, which writes nothing) a viewer; other writes an operator. */
export function roleFor(method: string, path: string): Role {
  if (method === "GET" || method === "HEAD") return "viewer";
  if (method === "POST" && path === "/v1/predict") return "viewer";
  return "operator";
}

/**
 * Bearer tokens with roles, in front of every route but the open ones. Each refusal answers
 * 401/403/429 with `{ error: { field, message, hint } }` and is counted as
 * `sluice_denied_total{surface="api",reason}`; a token is never echoed back.
 */
export function authorize(opts: AuthOptions, problem: Problem): MiddlewareHandler {
  const now = opts.now ?? Date.now;
  const rate = opts.ratePerSecond ?? 50;
  const buckets = new Map<string, { tokens: number; at: number }>();
  const deny = (c: Context, status: 401 | 403 | 429, reason: string, message: string, hint: string) => {
    countDenial("api", reason);
    if (status === 401) c.header("www-authenticate", 'Bearer realm="sluice"');
    return problem(c, status, "authorization", message, hint);
  };
  return async (c, next) => {
    c.set("principal", undefined);
    const path = c.req.path;
    if (c.req.method === "OPTIONS" || isOpenPath(path, opts.metricsAuth)) return next();
    const records = opts.tokens();
    if (!opts.required && records.length === 0) return next();
    const header = c.req.header("authorization") ?? "";
    const presented = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    const create = "create one with sluice api token create --role viewer and send Authorization: Bearer <token>";
    if (!presented) return deny(c, 401, "no_token", "a bearer token is required", create);
    const record = findToken(records, presented);
    if (!record) return deny(c, 401, "unknown_token", "the bearer token is not one this API issued", create);
    if (record.revoked_at) return deny(c, 401, "revoked", `token ${record.id} (${record.name}) was revoked at ${record.revoked_at}`, "ask an admin for a new token (sluice api token create)");
    const needed = roleFor(c.req.method, path);
    if (!roleAllows(record.role, needed)) {
      return deny(c, 403, "role", `the ${record.role} role may not ${c.req.method} ${path}; it needs ${needed}`, `use a token with the ${needed} role (sluice api token create --role ${needed})`);
    }
    const t = now();
    const bucket = buckets.get(record.id) ?? { tokens: 2 * rate, at: t };
    bucket.tokens = Math.min(2 * rate, bucket.tokens + ((t - bucket.at) / 1000) * rate);
    bucket.at = t;
    buckets.set(record.id, bucket);
    if (bucket.tokens < 1) {
      c.header("retry-after", String(Math.max(1, Math.ceil((1 - bucket.tokens) / rate))));
      return deny(c, 429, "rate", `token ${record.id} is over its ${rate} requests per second`, "slow down; the limit is SLUICE_API_RATE");
    }
    bucket.tokens -= 1;
    c.set("principal", { id: record.id, name: record.name, role: record.role });
    return next();
  };
}

import { randomUUID } from "node:crypto";

/**
 * One privileged action, as `sluice.audit` keeps it: who (a token's name, or user@host for the
 * CLI), with which role, through which surface, did what to what. Never a payload or a token.
 *
 * @example
 * const entry = auditEntry({ actor: "oncall", role: "operator", via: "api", action: "dlq.replay", target: "dlq:42" });
 */
export const AUDIT_ACTIONS = ["dlq.replay", "dlq.purge", "schema.change", "token.create", "token.revoke"] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEntry {
  readonly audit_id: string;
  /** Epoch ms. */
  readonly at: number;
  readonly actor: string;
  readonly role: string;
  readonly via: "api" | "cli";
  readonly action: AuditAction;
  readonly target: string;
  /** Short, non-personal detail (e.g. the new token's role, the replayed event id). */
  readonly detail: string;
}

export function auditEntry(fields: Omit<AuditEntry, "audit_id" | "at" | "detail"> & { detail?: string }, now = Date.now()): AuditEntry {
  return { audit_id: randomUUID(), at: now, detail: "", ...fields };
}

/** Whether `value` (a request over NATS) has the shape of an entry; the storing side checks before it inserts. */
export function isAuditEntry(value: unknown): value is AuditEntry {
  const v = value as Record<string, unknown> | null;
  return (
    !!v && typeof v === "object" &&
    ["audit_id", "actor", "role", "target", "detail"].every((k) => typeof v[k] === "string" && (v[k] as string).length <= 500) &&
    typeof v.at === "number" && Number.isFinite(v.at) &&
    (v.via === "api" || v.via === "cli") &&
    (AUDIT_ACTIONS as readonly unknown[]).includes(v.action)
  );
}

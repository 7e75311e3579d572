import type { Tracer } from "@opentelemetry/api";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { withDeadline } from "../../nats/deadline.ts";
import type { Logger, ServiceKey, ServiceProvider, StartContext } from "./actor.ts";

/** What the runtime has for an actor it starts (RuntimeDeps, with the actor's own tracer). */
export interface StartDeps {
  readonly nc: StartContext["nc"];
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly services?: ServiceProvider;
}

/** A service asked for that the actor did not declare, or that this process does not provide. */
export class ServiceUnavailableError extends Error {
  readonly actor: string;
  readonly service: string;
  constructor(actor: string, service: string, why: string) {
    super(`actor ${actor}: service ${service} ${why}`);
    this.name = "ServiceUnavailableError";
    this.actor = actor;
    this.service = service;
  }
}

/** The StartContext of `def` (both consumption modes build it here). */
export function startContext(def: { readonly name: string; readonly needs?: readonly ServiceKey<unknown>[] }, deps: StartDeps, tracer: Tracer): StartContext {
  const { nc, log, signal } = deps;
  const declared = new Set((def.needs ?? []).map((k) => k.name));
  return {
    actor: def.name,
    nc,
    log,
    signal,
    tracer,
    kv: (bucket, opts) => withDeadline(() => new Kvm(nc).create(bucket, opts), { what: `${def.name}: kv ${bucket} open`, signal }),
    objectStore: (bucket) => withDeadline(() => new Objm(nc).create(bucket), { what: `${def.name}: object store ${bucket} open`, signal }),
    use<T>(key: ServiceKey<T>): Promise<T> {
      if (!declared.has(key.name)) return Promise.reject(new ServiceUnavailableError(def.name, key.name, "is not in its declared needs"));
      if (!deps.services) return Promise.reject(new ServiceUnavailableError(def.name, key.name, "was asked for, and this process provides no services"));
      return deps.services.get(key, signal);
    },
  };
}

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
  readonly service: string;
  readonly actor: string | undefined;
  constructor(service: string, why: string, actor?: string) {
    super(`service ${service} ${why}${actor ? ` (asked for by actor ${actor})` : ""}`);
    this.name = "ServiceUnavailableError";
    this.service = service;
    this.actor = actor;
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
      if (!declared.has(key.name)) return Promise.reject(new ServiceUnavailableError(key.name, "is not in the actor's declared needs", def.name));
      if (!deps.services) return Promise.reject(new ServiceUnavailableError(key.name, "is not provided: this process runs its actors without services", def.name));
      return deps.services.get(key, signal);
    },
  };
}

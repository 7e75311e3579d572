import { test } from "uvu";
import * as assert from "uvu/assert";
import { supervise, type LoopActor } from "../../actors/runtime/supervisor.ts";
import type { RuntimeDeps } from "../../actors/runtime/run.ts";
import type { Logger } from "../../otel/log.ts";

test("a crash is logged with what caused it, each cause once, and the actor restarts", async () => {
  const errors: string[] = [];
  const log: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: (msg) => errors.push(msg) };
  const stop = new AbortController();
  let runs = 0;
  const actor: LoopActor = {
    name: "crashy",
    async run() {
      runs++;
      if (runs === 1) {
        const why = new Error("Permissions Violation for Publish to \"$JS.API.CONSUMER.CREATE.EVENTS\"");
        throw new Error("crashy task iot failed", { cause: new Error(`restore read failed (${why.message})`, { cause: why }) });
      }
      stop.abort();
    },
  };
  // supervise uses only the signal and the log; the actor's run ignores the rest.
  await supervise(actor, { signal: stop.signal, log } as unknown as RuntimeDeps);
  assert.is(runs, 2, "restarted once after the crash");
  assert.is(errors.length, 1, errors.join("\n"));
  assert.match(errors[0], /^actor crashy crashed: crashy task iot failed: restore read failed \(Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.CREATE\.EVENTS"\); restarting in 250 ms$/);
});

test.run();

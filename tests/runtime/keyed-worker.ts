/**
 * One instance of the keyed test actor in its own process, for tests that stop it with SIGSTOP:
 * `node --import tsx tests/runtime/keyed-worker.ts` with NATS_URL and KTEST_LABEL. SIGTERM stops it.
 */
import { connect } from "@nats-io/transport-node";
import { createLogger } from "../../actors/runtime/log.ts";
import { keyedActor } from "../../actors/runtime/keyed/run.ts";
import { counter } from "./keyed-counter.ts";

const nc = await connect({ servers: process.env.NATS_URL! });
const controller = new AbortController();
process.once("SIGTERM", () => controller.abort());
const actor = keyedActor(counter({ label: process.env.KTEST_LABEL!, labelInId: true }), { memberTtlMs: 1_500, rebalanceMs: 100, checkpointEveryMs: 0, shutdownBudgetMs: 1_000 });
await actor.run({ nc, log: createLogger("info"), signal: controller.signal });
await nc.close();

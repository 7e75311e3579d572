// The validate crash and hand-over tests again with micro-batched EVENTS (SLUICE_EVENTS_BATCH=on,
// off by default): the batch ids, the restore read of stored batches and validate's own repeat
// filter are what keep those runs exactly-once.
process.env.SLUICE_EVENTS_BATCH = "on";
await import("./crash.test.ts");

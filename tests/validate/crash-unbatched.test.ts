// The validate crash and hand-over tests again with one event a message on EVENTS
// (SLUICE_EVENTS_BATCH=off; batched is the default and crash.test.ts runs it): there JetStream's
// duplicate window on each event's own id is what keeps those runs exactly-once, and readers
// must still take the unbatched format.
process.env.SLUICE_EVENTS_BATCH = "off";
await import("./crash.test.ts");

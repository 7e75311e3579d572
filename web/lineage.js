import { api, fill, h, section, table } from "./dom.js";

/** An event's way through sluice (raw message, trace, windows, anomalies, dead letters) or a window's inputs. */
export function lineagePage(main, [kind, id] = []) {
  const input = h("input", { placeholder: "event id", "data-testid": "lineage-id", value: kind === "event" ? id : "" });
  const go = h("button", { onclick: () => { location.hash = `#lineage/event/${encodeURIComponent(input.value.trim())}`; } }, "Follow");
  const body = h("div", { class: "stack", "data-testid": "lineage" });
  main.append(h("div", { class: "controls" }, "event ", input, go), body);
  let jaeger;
  let shown = false;
  const traceLink = (traceId) => (jaeger && traceId ? h("a", { href: `${jaeger.replace(/\/$/, "")}/trace/${traceId}`, target: "_blank", rel: "noopener", "data-testid": "lineage-trace-link" }, traceId) : traceId);
  // The entry as KV history has it at the revision used, or why it cannot be shown.
  const referenceValue = (r) => (r.missing ? "no entry when enriched (flagged)" : r.at ? (r.at.operation === "PUT" ? JSON.stringify(r.at.value ?? {}) : r.at.operation) : r.gone);
  const windowLink = (w) => h("a", { href: `#lineage/window/${encodeURIComponent(w.window_id)}` }, w.window_id.slice(0, 12) + "…");

  async function showEvent() {
    const l = await api(`/v1/lineage/events/${encodeURIComponent(id)}`);
    const e = l.event;
    const raw = l.raw.gone ? h("p", { class: "empty" }, l.raw.gone)
      : h("div", {}, h("p", {}, `${l.raw.subject} · seq ${l.raw.seq} (read from ${l.raw.from}) · ${l.raw.bytes} bytes · stored ${l.raw.stored_at}`),
        h("pre", { "data-testid": "raw-headers" }, Object.entries(l.raw.headers).map(([k, v]) => `${k}: ${v}`).join("\n") || "(no headers)"),
        h("pre", { "data-testid": "raw-body" }, l.raw.text ?? `(base64) ${l.raw.base64}`));
    fill(body,
      section(`Event ${l.event_id}`, e ? h("div", {},
        h("p", {}, `${e.source} · ${e.key} · event time ${e.event_time} · ingested ${e.ingest_time}`),
        h("p", {}, "trace ", traceLink(e.trace_id)),
        h("p", {}, `schema written v${l.schema?.written}, stored v${e.schema_version}${l.schema?.upcast ? `, upcast ${l.schema.upcast}` : ""} · replays ${l.replays}`),
        h("pre", {}, JSON.stringify(e.payload, null, 1))) : h("p", { class: "empty" }, "not in sluice.events")),
      h("div", { class: "grid" },
        section("Enriched with", table("lineage-references", [["kind", (r) => r.kind], ["key", (r) => r.key], ["revision", (r) => (r.missing ? "missing" : r.revision), true], ["entry at that revision", referenceValue]], l.references ?? [], { rowId: (r) => `${r.kind}/${r.key}`, empty: "no reference data" })),
        section("PII rules applied", table("lineage-pii", [["field", (p) => p.field], ["action", (p) => p.action]], l.pii, { rowId: (p) => p.field, empty: "no personal fields" }))),
      section("Raw message", raw),
      section("Counted in windows", table("lineage-windows", [["window", windowLink], ["kind", (w) => w.kind], ["key", (w) => w.key], ["metric", (w) => w.metric], ["start", (w) => w.window_start], ["count", (w) => w.count, true]], l.windows, { rowId: (w) => w.window_id, empty: "none" })),
      h("div", { class: "grid" },
        section("Late", table("lineage-late", [["reason", (x) => x.reason], ["watermark", (x) => x.watermark], ["missed windows", (x) => x.window_ids.length, true]], l.late, { empty: "on time" })),
        section("Anomalies", table("lineage-anomalies", [["metric", (a) => a.metric], ["signal", (a) => a.signal], ["severity", (a) => a.severity], ["observed", (a) => a.observed, true], ["expected", (a) => `${a.expected_low} – ${a.expected_high}`]], l.anomalies, { empty: "none" })),
        section("Dead letters", table("lineage-dead-letters", [["id", (d) => d.dlq_id], ["actor", (d) => d.actor], ["reason", (d) => d.error_code]], l.dead_letters, { empty: "none" }))),
    );
  }
  async function showWindow() {
    const l = await api(`/v1/lineage/windows/${encodeURIComponent(id)}`);
    const w = l.window;
    fill(body,
      section(`Window ${l.window_id}`, h("p", {}, `${w.source} ${w.kind} ${w.key} ${w.metric} [${w.window_start}, ${w.window_end})`),
        h("pre", {}, JSON.stringify(l.definition, null, 1))),
      section("Versions", table("lineage-versions", [["version", (v) => v.version, true], ["count", (v) => v.count, true], ["mean", (v) => v.mean, true], ["emitted", (v) => v.emitted_at]], l.versions)),
      section(`Inputs (${l.input_count})`, table("lineage-inputs", [["event", (e) => h("a", { href: `#lineage/event/${encodeURIComponent(e.event_id)}` }, e.event_id)], ["time", (e) => e.event_time], ["value", (e) => JSON.stringify(e.value)]], l.inputs)),
      section("Too late, not counted", table("lineage-window-late", [["event", (e) => e.event_id], ["time", (e) => e.event_time], ["watermark", (e) => e.watermark]], l.late, { empty: "none" })),
    );
  }
  return {
    async refresh() {
      // A lineage does not change while one reads it: drawn once.
      if (shown || !id) return;
      jaeger ??= (await api("/ui/config.json")).jaeger_ui_url;
      await (kind === "window" ? showWindow() : showEvent());
      shown = true;
    },
  };
}

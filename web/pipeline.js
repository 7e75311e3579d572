import { api, fill, fmt, h, section, table } from "./dom.js";
import { topologySvg } from "./graph.js";

/** Topology, per-actor rates, consumer lag, watermark per source, dead letters per reason, data quality. */
export function pipelinePage(main) {
  const slots = { topology: h("div"), actors: h("div"), lag: h("div"), sources: h("div"), dead: h("div"), dq: h("div"), reports: h("div") };
  main.append(
    section("Topology (from the actor declarations)", slots.topology),
    section("Actors (rate: acks per second between two refreshes)", slots.actors),
    h("div", { class: "grid" },
      section("Consumer lag", slots.lag),
      section("Sources (last hour, by arrival)", slots.sources),
      section("Dead letters per reason (last hour)", slots.dead)),
    section("Data quality (last hour)", slots.dq),
    section("Reports", slots.reports),
  );
  let previous;
  let drawn = false;
  return {
    async refresh() {
      if (!drawn) {
        const topology = await api("/v1/topology").catch(() => undefined);
        fill(slots.topology, topology ? topologySvg(topology) : h("p", { class: "empty" }, "no topology in this process"));
        drawn = true;
      }
      const p = await api("/v1/pipeline?since=1h");
      const at = Date.parse(p.at);
      const before = previous ? new Map(previous.actors.map((a) => [a.name, a])) : new Map();
      const seconds = previous ? (at - Date.parse(previous.at)) / 1000 : 0;
      const rate = (a) => {
        const b = before.get(a.name);
        return b && seconds > 0 ? `${((a.acked - b.acked) / seconds).toFixed(1)}/s` : "…";
      };
      fill(slots.actors, table("actors", [
        ["actor", (a) => a.name], ["rate", rate, true], ["acked", (a) => fmt.int(a.acked), true], ["emitted", (a) => fmt.int(a.emitted), true],
        ["dead-lettered", (a) => fmt.int(a.dead_lettered), true], ["restarts", (a) => fmt.int(a.restarts), true], ["stuck", (a) => (a.stuck ? "yes" : "")],
      ], p.actors, { rowId: (a) => a.name, empty: "no actor runs in this process" }));
      fill(slots.lag, table("lag", [["consumer", (l) => l.consumer], ["stream", (l) => l.stream], ["pending", (l) => fmt.int(l.pending), true], ["ack pending", (l) => fmt.int(l.ackPending), true]], p.lag, { rowId: (l) => l.consumer }));
      fill(slots.sources, table("sources", [
        ["source", (s) => s.source], ["events", (s) => fmt.int(s.events), true], ["keys", (s) => fmt.int(s.keys), true], ["watermark", (s) => (s.watermark ? fmt.time(s.watermark) : "–")], ["newest event", (s) => fmt.time(s.newest_event_time)],
      ], p.sources, { rowId: (s) => s.source }));
      fill(slots.dead, table("dead-letters", [["actor", (d) => d.actor], ["reason", (d) => d.code], ["count", (d) => fmt.int(d.count), true]], p.dead_letters, { rowId: (d) => `${d.actor}/${d.code}`, empty: "none" }));
      fill(slots.dq, table("data-quality", [
        ["source", (q) => q.source], ["expectation", (q) => q.expectation], ["severity", (q) => q.severity],
        ["evaluated", (q) => fmt.int(q.evaluated), true], ["failed", (q) => fmt.int(q.failed), true], ["pass rate", (q) => fmt.pct(q.pass_rate), true],
      ], p.data_quality, { rowId: (q) => `${q.source}/${q.expectation}` }));
      const { reports } = await api("/v1/reports");
      fill(slots.reports, table("reports", [
        ["name", (r) => r.name], ["from", (r) => fmt.time(r.from)], ["to", (r) => fmt.time(r.to)], ["events", (r) => fmt.int(r.events), true],
        ["dead letters", (r) => fmt.int(r.dead_letters), true], ["anomalies", (r) => fmt.int(r.anomalies), true], ["files", (r) => r.files.map((f) => f.split("/").pop()).join(" ")],
      ], reports, { rowId: (r) => `${r.name}/${r.to}`, empty: "no report written yet (sluice report, SLUICE_REPORT_CRON)" }));
      previous = p;
    },
  };
}

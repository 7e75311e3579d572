import { api, fill, fmt, h, section, table } from "./dom.js";
import { timeChart } from "./charts.js";

const SEVERITIES = ["low", "medium", "high"];

/** A timeline by severity, each anomaly with its explanation, its event, and a link to its trace in Jaeger. */
export function anomaliesPage(main) {
  const chartEl = h("div", { "data-testid": "anomaly-timeline" });
  const list = h("div");
  main.append(section("Timeline (score by severity, last 24 h)", chartEl), section("Anomalies", list));
  const chart = timeChart(chartEl, { points: true, xRange: () => [Date.now() / 1000 - 86_400, Date.now() / 1000], series: [{ label: "low", color: "#667085" }, { label: "medium", color: "#d97706" }, { label: "high", color: "#c2410c" }] });
  let jaeger;
  return {
    async refresh() {
      jaeger ??= (await api("/ui/config.json")).jaeger_ui_url;
      const { anomalies } = await api("/v1/anomalies?since=24h&limit=500");
      const sorted = [...anomalies].sort((a, b) => a.event_time.localeCompare(b.event_time));
      const xs = sorted.map((a) => Date.parse(a.event_time) / 1000);
      chart.set([xs, ...SEVERITIES.map((s) => sorted.map((a) => (a.severity === s ? a.score : null)))]);
      const trace = (a) => (jaeger && a.trace_id ? h("a", { href: `${jaeger.replace(/\/$/, "")}/trace/${a.trace_id}`, target: "_blank", rel: "noopener", "data-testid": "trace-link" }, a.trace_id.slice(0, 12) + "…") : a.trace_id || "");
      fill(list, table("anomalies", [
        ["time", (a) => fmt.time(a.event_time)], ["source", (a) => a.source], ["key", (a) => a.key], ["metric", (a) => a.metric],
        ["severity", (a) => h("span", { class: `sev-${a.severity}` }, a.severity)], ["score", (a) => a.score.toFixed(2), true],
        ["signal", (a) => a.signal], ["expected", (a) => `${fmt.num(a.expected.low)} – ${fmt.num(a.expected.high)}`, true], ["observed", (a) => fmt.num(a.observed), true],
        ["why", (a) => h("code", {}, JSON.stringify(a.explanation).slice(0, 120))], ["event", (a) => h("a", { href: `#lineage/event/${encodeURIComponent(a.event_id)}`, "data-testid": "event-link" }, a.event_id)], ["trace", trace],
      ], anomalies, { rowId: (a) => a.event_id, empty: "no anomaly in the last 24 h" }));
    },
  };
}

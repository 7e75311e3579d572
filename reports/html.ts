import type { ReportData } from "./data.ts";
import { barChart, escapeHtml, lineChart } from "./svg.ts";

const int = (v: number) => v.toLocaleString("en-US");
const pct = (r: number) => `${(r * 100).toFixed(1)}%`;
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");

/** One table; every cell carries its column as `data-cell` so a test can read a figure by name. */
function table(id: string, columns: ReadonlyArray<[string, boolean?]>, rows: ReadonlyArray<{ id: string; cells: readonly string[] }>, empty: string): string {
  if (rows.length === 0) return `<p class="empty" id="${id}">${escapeHtml(empty)}</p>`;
  const head = columns.map(([name, numeric]) => `<th${numeric ? ' class="n"' : ""}>${escapeHtml(name)}</th>`).join("");
  const body = rows.map((r) => `<tr data-row="${escapeHtml(r.id)}">${r.cells.map((c, i) => `<td data-cell="${escapeHtml(columns[i][0])}"${columns[i][1] ? ' class="n"' : ""}>${escapeHtml(c)}</td>`).join("")}</tr>`).join("\n");
  return `<table id="${id}"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const STYLE = `body{font:13px/1.4 sans-serif;color:#1d2330;margin:24px;max-width:900px}h1{font-size:20px}h2{font-size:15px;margin-top:24px;border-bottom:1px solid #d0d5dd}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #eef0f3;vertical-align:top}th{color:#667085;font-weight:500}.n{text-align:right}.empty{color:#667085}code{font-size:11px}td{overflow-wrap:anywhere}`;

/**
 * The report as one self-contained HTML page (inline style and SVG, no script): volumes, data
 * quality, dead letters, anomalies with explanations, forecast accuracy, lag and throughput.
 */
export function renderReport(d: ReportData): string {
  const { fromMs, toMs } = d.period;
  const sections = [
    `<h2>Volumes and throughput</h2>`,
    table("volumes", [["source"], ["events", true], ["keys", true], ["events/s", true]], d.volumes.map((v) => ({ id: v.source, cells: [v.source, int(v.events), int(v.keys), v.perSecond.toFixed(2)] })), "no events in the period"),
    lineChart(d.timeline.series.map((s) => ({ label: s.source, points: s.points })), { fromMs, toMs, title: `events per ${d.timeline.bucketMs === 60_000 ? "minute" : "hour"}` }),
    `<h2>Data quality</h2>`,
    table("quality", [["source"], ["expectation"], ["severity"], ["evaluated", true], ["failed", true], ["pass rate", true]], d.quality.map((q) => ({ id: `${q.source}/${q.expectation}`, cells: [q.source, q.expectation, q.severity, int(q.evaluated), int(q.failed), pct(q.passRate)] })), "no quality counts in the period"),
    `<h2>Dead letters by reason</h2>`,
    table("dead-letters", [["actor"], ["reason"], ["count", true]], d.deadLetters.map((x) => ({ id: `${x.actor}/${x.code}`, cells: [x.actor, x.code, int(x.count)] })), "no dead letters in the period"),
    d.deadLetters.length ? barChart(d.deadLetters.map((x) => ({ label: `${x.actor} ${x.code}`, value: x.count })), { title: "dead letters by reason" }) : "",
    `<h2>Anomalies</h2>`,
    table("anomalies", [["time"], ["source"], ["key"], ["metric"], ["severity"], ["score", true], ["signal"], ["expected"], ["observed", true], ["explanation"], ["trace"]],
      d.anomalies.map((a) => ({ id: a.eventId, cells: [a.eventTime, a.source, a.key, a.metric, a.severity, a.score.toFixed(2), a.signal, `${a.expectedLow.toFixed(2)} – ${a.expectedHigh.toFixed(2)}`, a.observed.toFixed(2), JSON.stringify(a.explanation), a.traceId] })), "no anomalies in the period"),
    `<h2>Forecast accuracy (realised vs forecast)</h2>`,
    table("forecasts", [["series"], ["windows", true], ["MAE", true], ["coverage", true], ["nominal", true]], d.forecasts.map((f) => ({ id: f.series, cells: [f.series, int(f.points), f.mae.toFixed(3), pct(f.coverage), pct(f.level)] })), "no forecast whose target closed in the period"),
    `<h2>Consumer lag at ${escapeHtml(iso(d.generatedAt))}</h2>`,
    table("lag", [["consumer"], ["stream"], ["pending", true], ["ack pending", true]], d.lag.map((l) => ({ id: l.consumer, cells: [l.consumer, l.stream, int(l.pending), int(l.ackPending)] })), "lag not known to this process"),
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sluice report ${escapeHtml(d.name)}</title><style>${STYLE}</style></head>
<body data-from="${iso(fromMs)}" data-to="${iso(toMs)}">
<h1>sluice report: ${escapeHtml(d.name)}</h1>
<p>Period <time id="from">${iso(fromMs)}</time> to <time id="to">${iso(toMs)}</time> · generated ${escapeHtml(iso(d.generatedAt))}</p>
${sections.join("\n")}
</body></html>
`;
}

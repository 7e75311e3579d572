import { api, fill, fmt, h, section, table } from "./dom.js";
import { timeChart } from "./charts.js";

const SOURCES = ["iot", "social", "txn"];
const secondsOf = (iso) => Date.parse(iso) / 1000;

/** Per source: events per minute, top keys, and a key's recent windows (count, mean, p95). */
export function sourcesPage(main) {
  const state = { source: "iot", key: undefined, metric: undefined };
  const picker = h("select", { "data-testid": "source-picker", onchange: (e) => { state.source = e.target.value; state.key = undefined; state.metric = undefined; } },
    SOURCES.map((s) => h("option", { value: s }, s)));
  const metricPicker = h("select", { "data-testid": "metric-picker", onchange: (e) => { state.metric = e.target.value; } });
  const rateEl = h("div", { "data-testid": "events-per-minute" });
  const countEl = h("div", { "data-testid": "window-count-chart" });
  const statsEl = h("div", { "data-testid": "window-stats-chart" });
  const keys = h("div");
  const keyTitle = h("span");
  main.append(
    h("div", { class: "controls" }, "source ", picker),
    h("div", { class: "grid" }, section("Events per minute (last hour)", rateEl), section("Top keys (last hour)", keys)),
    section(h("span", {}, "Recent windows of ", keyTitle), h("div", { class: "controls" }, "metric ", metricPicker), h("div", { class: "grid" }, countEl, statsEl)),
  );
  const lastHour = () => [Date.now() / 1000 - 3600, Date.now() / 1000];
  const rateChart = timeChart(rateEl, { series: [{ label: "events/min", bars: true }], xRange: lastHour, fromZero: true });
  const countChart = timeChart(countEl, { series: [{ label: "count", points: true }], xRange: lastHour, fromZero: true });
  const statsChart = timeChart(statsEl, { series: [{ label: "mean", points: true }, { label: "p95", dash: true, points: true }], xRange: lastHour });
  return {
    async refresh() {
      const s = await api(`/v1/sources/${state.source}?since=1h`);
      rateChart.set([s.per_minute.map((m) => secondsOf(m.minute)), s.per_minute.map((m) => m.events)]);
      state.key ??= s.top_keys[0]?.key;
      fill(keys, table("top-keys", [["key", (k) => k.key], ["events", (k) => fmt.int(k.events), true]], s.top_keys, {
        rowId: (k) => k.key, selected: (k) => k.key === state.key, onPick: (k) => { state.key = k.key; state.metric = undefined; },
      }));
      fill(keyTitle, state.key ?? "(no key yet)");
      if (!state.key) return;
      const w = await api(`/v1/windows?source=${state.source}&key=${encodeURIComponent(state.key)}&since=1h&limit=2000`);
      const tumbling = w.windows.filter((x) => x.kind === "tumbling");
      const metrics = [...new Set(tumbling.map((x) => x.metric))].sort();
      if (!metrics.includes(state.metric)) state.metric = metrics[0];
      fill(metricPicker, metrics.map((m) => h("option", { value: m, selected: m === state.metric }, m)));
      const rows = tumbling.filter((x) => x.metric === state.metric).sort((a, b) => a.window_start.localeCompare(b.window_start));
      const xs = rows.map((x) => secondsOf(x.window_start));
      countChart.set([xs, rows.map((x) => x.count)]);
      statsChart.set([xs, rows.map((x) => x.mean), rows.map((x) => x.p95)]);
    },
  };
}

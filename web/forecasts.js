import { api, fill, h, section } from "./dom.js";
import { timeChart } from "./charts.js";

/** A series picker; the series' history (window means) and its forecast with the prediction interval. */
export function forecastsPage(main) {
  const state = { series: undefined };
  const picker = h("select", { "data-testid": "series-picker", onchange: (e) => { state.series = e.target.value; } });
  const chartEl = h("div", { "data-testid": "forecast-chart" });
  const note = h("p", { class: "empty" });
  main.append(h("div", { class: "controls" }, "series ", picker), section("History and forecast", chartEl, note));
  const chart = timeChart(chartEl, { series: [{ label: "history" }, { label: "forecast", dash: true }, { label: "lower", color: "#93c5fd" }, { label: "upper", color: "#93c5fd" }], band: [2, 3] });
  return {
    async refresh() {
      const { series } = await api("/v1/series?since=24h");
      if (!series.some((s) => s.series === state.series)) state.series = series[0]?.series;
      fill(picker, series.map((s) => h("option", { value: s.series, selected: s.series === state.series }, `${s.series} (${s.windows})`)));
      if (!state.series) {
        fill(note, "no tumbling windows yet");
        return;
      }
      const [source, ...rest] = state.series.split(":");
      const metric = rest.pop();
      const key = rest.join(":");
      const [w, f] = await Promise.all([
        api(`/v1/windows?source=${source}&key=${encodeURIComponent(key)}&metric=${encodeURIComponent(metric)}&since=24h&limit=2000`),
        api(`/v1/forecast/${encodeURIComponent(state.series)}?horizon=12`).catch((err) => ({ error: err.message })),
      ]);
      const history = w.windows.filter((x) => x.kind === "tumbling").sort((a, b) => a.window_start.localeCompare(b.window_start));
      const points = f.points ?? [];
      const xs = [...history.map((x) => Date.parse(x.window_start) / 1000), ...points.map((p) => Date.parse(p.timestamp) / 1000)];
      const pad = (n) => Array(n).fill(null);
      chart.set([
        xs,
        [...history.map((x) => x.mean), ...pad(points.length)],
        [...pad(history.length), ...points.map((p) => p.mean)],
        [...pad(history.length), ...points.map((p) => p.lower)],
        [...pad(history.length), ...points.map((p) => p.upper)],
      ]);
      fill(note, f.error ? `no forecast: ${f.error}` : `${f.model?.kind ?? "model"} (period ${f.model?.period ?? "?"}), ${Math.round((f.level ?? 0) * 100)}% interval, fitted ${f.fitted} at ${f.made_at}`);
    },
  };
}

// uPlot line charts that keep their canvas across refreshes (setData instead of a new chart).
/* global uPlot */

const COLORS = ["#2563eb", "#d97706", "#16a34a", "#9333ea", "#dc2626"];

/**
 * A chart in `el` of series over time. `data` is [xs (unix seconds), ...ys]; `series` names each y.
 * `band` = [lowerIndex, upperIndex] shades between two series (a prediction interval).
 * `xRange()` → [from, to] unix seconds fixes the time axis to a period (a single point would
 * otherwise make uPlot pick years); `fromZero` starts the y axis at 0.
 */
export function timeChart(el, { series, band, points = false, height = 220, xRange, fromZero = false }) {
  let plot;
  let shape = "";
  return {
    set(data) {
      const key = series.map((s) => s.label).join("|");
      if (plot && shape === key) {
        plot.setData(data);
        return;
      }
      plot?.destroy();
      shape = key;
      const width = Math.max(320, el.clientWidth || 600);
      plot = new uPlot({
        width,
        height,
        series: [{}, ...series.map((s, i) => ({
          label: s.label,
          stroke: s.color ?? COLORS[i % COLORS.length],
          width: s.dash ? 1 : 2,
          dash: s.dash ? [4, 4] : undefined,
          paths: s.bars ? uPlot.paths.bars({ size: [0.8, 40] }) : points ? () => null : undefined,
          fill: s.bars ? "rgba(37,99,235,0.5)" : undefined,
          points: s.bars ? { show: false } : points || s.points ? { show: true, size: 7, fill: s.color ?? COLORS[i % COLORS.length] } : { show: false },
          spanGaps: false,
        }))],
        bands: band ? [{ series: [band[1] + 1, band[0] + 1], fill: "rgba(37,99,235,0.12)" }] : undefined,
        scales: {
          ...(xRange ? { x: { time: true, range: () => xRange() } } : {}),
          // Counts read against zero: a bar from 1,200 to 1,500 would look like nothing to a few.
          ...(fromZero ? { y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } } : {}),
        },
        axes: [{}, { size: 60 }],
      }, data, el);
    },
  };
}

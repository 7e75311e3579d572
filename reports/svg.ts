// Inline SVG charts for reports: no script, so they render the same in a mail client, a browser and a PDF.

const COLORS = ["#2563eb", "#d97706", "#16a34a", "#9333ea", "#dc2626"];

export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const fixed = (v: number) => Number(v.toFixed(1));

/** Horizontal bars, one per item, labelled with the item and its value. */
export function barChart(items: ReadonlyArray<{ label: string; value: number }>, opts: { width?: number; title: string }): string {
  const width = opts.width ?? 640;
  const row = 22;
  const labelWidth = 220;
  const max = Math.max(1, ...items.map((i) => i.value));
  const height = Math.max(1, items.length) * row + 8;
  const bars = items.map((item, i) => {
    const w = fixed(((width - labelWidth - 60) * item.value) / max);
    const y = 4 + i * row;
    return `<text x="0" y="${y + 15}">${escapeHtml(item.label)}</text><rect x="${labelWidth}" y="${y + 3}" width="${w}" height="${row - 8}" fill="${COLORS[0]}"/><text x="${fixed(labelWidth + w + 6)}" y="${y + 15}">${item.value.toLocaleString("en-US")}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="${escapeHtml(opts.title)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-size="12" font-family="sans-serif">${bars.join("")}</svg>`;
}

/** Lines over time, one per series, on a shared axis from `fromMs` to `toMs`. */
export function lineChart(series: ReadonlyArray<{ label: string; points: ReadonlyArray<readonly [number, number]> }>, opts: { fromMs: number; toMs: number; title: string; width?: number; height?: number }): string {
  const width = opts.width ?? 640;
  const height = opts.height ?? 200;
  const pad = { left: 50, right: 10, top: 10, bottom: 30 };
  const max = Math.max(1, ...series.flatMap((s) => s.points.map(([, v]) => v)));
  const span = Math.max(1, opts.toMs - opts.fromMs);
  const x = (t: number) => fixed(pad.left + ((t - opts.fromMs) / span) * (width - pad.left - pad.right));
  const y = (v: number) => fixed(height - pad.bottom - (v / max) * (height - pad.top - pad.bottom));
  const lines = series.map((s, i) => {
    const color = COLORS[i % COLORS.length];
    const d = s.points.map(([t, v], j) => `${j ? "L" : "M"}${x(t)},${y(v)}`).join(" ");
    const dots = s.points.length === 1 ? `<circle cx="${x(s.points[0][0])}" cy="${y(s.points[0][1])}" r="3" fill="${color}"/>` : "";
    return `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>${dots}<text x="${pad.left + 8 + i * 90}" y="${pad.top + 12}" fill="${color}">${escapeHtml(s.label)}</text>`;
  });
  const axis = `<line x1="${pad.left}" y1="${height - pad.bottom}" x2="${width - pad.right}" y2="${height - pad.bottom}" stroke="#98a2b3"/><line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${height - pad.bottom}" stroke="#98a2b3"/>`;
  const labels = `<text x="${pad.left - 6}" y="${pad.top + 10}" text-anchor="end">${max.toLocaleString("en-US")}</text><text x="${pad.left - 6}" y="${height - pad.bottom}" text-anchor="end">0</text>`
    + `<text x="${pad.left}" y="${height - 8}">${new Date(opts.fromMs).toISOString().slice(0, 16).replace("T", " ")}</text><text x="${width - pad.right}" y="${height - 8}" text-anchor="end">${new Date(opts.toMs).toISOString().slice(0, 16).replace("T", " ")}</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="${escapeHtml(opts.title)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-size="11" font-family="sans-serif">${axis}${labels}${lines.join("")}</svg>`;
}

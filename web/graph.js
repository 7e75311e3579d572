// The dataset graph (streams → actors → streams/tables) as SVG, laid out in columns by depth.

const NS = "http://www.w3.org/2000/svg";
const W = 150;
const H = 26;
const COL = 200;
const ROW = 38;

function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Each node's column: 0 for what nothing feeds, else one more than its deepest input. */
function depths(nodes, edges) {
  const depth = new Map(nodes.map((n) => [n, 0]));
  for (let pass = 0; pass < nodes.length; pass++) {
    let changed = false;
    for (const { from, to } of edges) {
      const d = depth.get(from) + 1;
      if (d > depth.get(to)) {
        depth.set(to, d);
        changed = true;
      }
    }
    if (!changed) break;
  }
  return depth;
}

export function topologySvg(topology) {
  const nodes = [
    ...topology.streams.map((s) => `stream:${s.name}`),
    ...topology.actors.map((a) => `actor:${a.name}`),
    ...topology.tables.map((t) => `table:${t}`),
  ];
  const depth = depths(nodes, topology.edges);
  const columns = new Map();
  for (const n of nodes) columns.set(depth.get(n), [...(columns.get(depth.get(n)) ?? []), n]);
  const at = new Map();
  for (const [d, list] of columns) list.forEach((n, i) => at.set(n, { x: 10 + d * COL, y: 10 + i * ROW }));
  const width = 20 + Math.max(...columns.keys()) * COL + W;
  const height = 20 + Math.max(...[...columns.values()].map((l) => l.length)) * ROW;
  const svg = el("svg", { class: "graph", width, height, viewBox: `0 0 ${width} ${height}`, "data-testid": "topology" });
  for (const { from, to } of topology.edges) {
    const a = at.get(from);
    const b = at.get(to);
    if (a && b) svg.append(el("line", { x1: a.x + W, y1: a.y + H / 2, x2: b.x, y2: b.y + H / 2 }));
  }
  for (const n of nodes) {
    const { x, y } = at.get(n);
    const [kind, ...rest] = n.split(":");
    const g = el("g", { class: kind, "data-node": n });
    g.append(el("rect", { x, y, width: W, height: H, rx: 4 }), el("text", { x: x + 8, y: y + 17 }, `${kind === "stream" ? "▤ " : kind === "table" ? "▦ " : "⚙ "}${rest.join(":")}`));
    svg.append(g);
  }
  return svg;
}

// The layering rules of the developer guide, checked over the import specifiers of every .ts file,
// so a shortcut across layers fails here rather than in review:
// - the cores (`windowing/`, `models/`, `quality/`) and the layers below the actors (`clickhouse/`,
//   `subjects/`, `nats/`, `otel/`, `config/`) import nothing from `actors/`, `api/` or `cli/`;
// - `api/` and `actors/` do not import each other (the process that runs both, `cli/`, wires them);
// - no source module imports itself through others (a cycle makes load order decide what is defined).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(new URL("..", import.meta.url).pathname);
const SKIPPED_DIRS = new Set(["node_modules"]);
/** Folders that only run or check the product; anything may be imported from them, nothing imports them. */
const ENTRY_DIRS = new Set(["tests", "bench", "bin"]);

const UPPER = ["actors", "api", "cli"];
const MAY_NOT_IMPORT: Readonly<Record<string, readonly string[]>> = {
  windowing: UPPER,
  models: UPPER,
  quality: UPPER,
  clickhouse: UPPER,
  subjects: UPPER,
  nats: UPPER,
  otel: UPPER,
  config: UPPER,
  api: ["actors", "cli"],
  actors: ["api", "cli"],
};

/** `import … from "x"`, `export … from "x"` (multi-line clauses too), `import "x"` and `import("x")`. */
const STATIC = /^(?:import|export)\s+[\w*{}\s,$]*?\bfrom\s*["']([^"']+)["']|^import\s*["']([^"']+)["']/gm;
const DYNAMIC = /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g;
const IMPORT_LINE = /^import[\s{*"']/gm;

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (SKIPPED_DIRS.has(name) || name.startsWith(".")) return [];
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return name.endsWith(".ts") && !name.endsWith(".d.ts") ? [path] : [];
  });
}

interface SourceFile { path: string; imports: string[] }

/** Every .ts file below the root, with the repository paths its relative specifiers name. */
function readTree(): SourceFile[] {
  return tsFiles(ROOT).map((file) => {
    const text = readFileSync(file, "utf8");
    const path = relative(ROOT, file);
    const statics = [...text.matchAll(STATIC)];
    const importStatements = statics.filter((m) => m[0].startsWith("import")).length;
    const importLines = [...text.matchAll(IMPORT_LINE)].length;
    // A statement the pattern does not understand would silently escape every rule below.
    assert.is(importStatements, importLines, `${path}: ${importLines} lines start an import but ${importStatements} were parsed; extend STATIC in tests/layering.test.ts`);
    const specifiers = [...statics.map((m) => m[1] ?? m[2]), ...[...text.matchAll(DYNAMIC)].map((m) => m[1])];
    const imports = specifiers.filter((s) => s.startsWith(".")).map((s) => relative(ROOT, resolve(dirname(file), s)));
    return { path, imports };
  });
}

const topDir = (path: string) => path.split("/")[0];

/** "<file> imports <target>" for each import that crosses a forbidden layer boundary. */
function layerViolations(files: readonly SourceFile[]): string[] {
  const out: string[] = [];
  for (const file of files) {
    const forbidden = MAY_NOT_IMPORT[topDir(file.path)] ?? [];
    for (const target of file.imports) {
      if (forbidden.includes(topDir(target))) out.push(`${file.path} imports ${target}`);
    }
  }
  return out;
}

/** Each import cycle among `files`, as "a.ts → b.ts → a.ts" (Tarjan's strongly connected components, one path per component). */
function importCycles(files: readonly SourceFile[]): string[] {
  const graph = new Map(files.map((f) => [f.path, f.imports.filter((t) => t !== f.path)]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1) components.push(component);
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return components.map((component) => cyclePath(graph, new Set(component)));
}

/** One cycle through a strongly connected component, found by walking its edges from its first file (sorted). */
function cyclePath(graph: ReadonlyMap<string, readonly string[]>, component: ReadonlySet<string>): string {
  const start = [...component].sort()[0];
  const path = [start];
  const seen = new Set(path);
  for (;;) {
    const next = graph.get(path[path.length - 1])!.filter((t) => component.has(t));
    const back = next.find((t) => seen.has(t));
    if (back !== undefined) return [...path.slice(path.indexOf(back)), back].join(" → ");
    path.push(next[0]);
    seen.add(next[0]);
  }
}

const tree = readTree();
const sources = tree.filter((f) => !ENTRY_DIRS.has(topDir(f.path)));

test("the scan sees the tree: every source folder, and imports across folders", () => {
  const dirs = new Set(sources.map((f) => topDir(f.path)));
  for (const dir of Object.keys(MAY_NOT_IMPORT)) assert.ok(dirs.has(dir), `no .ts file found under ${dir}/`);
  assert.ok(sources.some((f) => f.path === "actors/pipeline.ts" && f.imports.includes("subjects/setup.ts")), "actors/pipeline.ts should be seen importing subjects/setup.ts");
});

test("the rules catch what they forbid (checked on a made-up tree)", () => {
  const made = [
    { path: "quality/gate.ts", imports: ["actors/runtime/errors.ts"] },
    { path: "api/app.ts", imports: ["clickhouse/index.ts", "actors/detect/lru.ts"] },
    { path: "actors/pipeline.ts", imports: ["api/sql-rpc.ts", "models/lru.ts"] },
    { path: "clickhouse/a.ts", imports: ["clickhouse/b.ts"] },
    { path: "clickhouse/b.ts", imports: ["clickhouse/c.ts", "clickhouse/a.ts"] },
    { path: "clickhouse/c.ts", imports: ["clickhouse/b.ts"] },
  ];
  assert.equal(layerViolations(made), [
    "quality/gate.ts imports actors/runtime/errors.ts",
    "api/app.ts imports actors/detect/lru.ts",
    "actors/pipeline.ts imports api/sql-rpc.ts",
  ]);
  assert.equal(importCycles(made), ["clickhouse/a.ts → clickhouse/b.ts → clickhouse/a.ts"]);
});

test("cores and lower layers import nothing from actors/, api/ or cli/; api/ and actors/ do not import each other", () => {
  assert.equal(layerViolations(sources), []);
});

test("no import cycle among source modules (clickhouse/ included)", () => {
  assert.equal(importCycles(sources), []);
});

test.run();

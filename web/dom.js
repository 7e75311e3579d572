// Small DOM and fetch helpers the pages share.

const TOKEN_KEY = "sluice.apiToken";

/**
 * GET (or send) JSON from the API with the token the login box stored, if any; a 4xx/5xx throws
 * with the API's own message, and a 401 also opens the login box.
 */
export async function api(path, init = {}) {
  const headers = new Headers(init.headers ?? {});
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers.set("authorization", `Bearer ${token}`);
  const res = await fetch(path, { ...init, headers });
  const body = await res.json().catch(() => ({}));
  if (res.status === 401) showLogin(body?.error?.message ?? "this API needs a token");
  // The status and hint go with the error: a page tells a refused role (403) from a failure.
  if (!res.ok) throw Object.assign(new Error(body?.error?.message ?? `${res.status} ${res.statusText}`), { status: res.status, hint: body?.error?.hint });
  return body;
}

/** A box for the API token (sluice api token create --role viewer), kept in this browser's localStorage. */
function showLogin(message) {
  if (document.getElementById("login")) return;
  const input = h("input", { type: "password", name: "token", placeholder: "sluice_…", autocomplete: "off", "data-testid": "login-token" });
  const form = h("form", {
    id: "login", class: "login", "data-testid": "login",
    onsubmit: (e) => {
      e.preventDefault();
      localStorage.setItem(TOKEN_KEY, input.value.trim());
      location.reload();
    },
  }, h("p", {}, message, " — paste a token from ", h("code", {}, "sluice api token create --role viewer"), "."), input, h("button", { type: "submit" }, "Sign in"));
  document.body.prepend(form);
}

/** An element with attributes and children; text children become text nodes. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) el.append(c instanceof Node ? c : String(c));
  return el;
}

export function section(title, ...children) {
  return h("section", {}, h("h2", {}, title), ...children);
}

/**
 * A table of `rows`; each column is [header, cell(row) → text|Node, numeric?]. `testid` names
 * the table; a cell's `data-cell` is the column header, so tests can read figures by name.
 */
export function table(testid, columns, rows, opts = {}) {
  if (rows.length === 0) return h("p", { class: "empty", "data-testid": testid }, opts.empty ?? "nothing yet");
  return h("table", { "data-testid": testid },
    h("thead", {}, h("tr", {}, columns.map(([name, , numeric]) => h("th", { class: numeric ? "n" : undefined }, name)))),
    h("tbody", {}, rows.map((row) => h("tr", {
      class: [opts.onPick ? "pick" : "", opts.selected?.(row) ? "selected" : ""].join(" ").trim() || undefined,
      "data-row": opts.rowId?.(row),
      onclick: opts.onPick ? () => opts.onPick(row) : undefined,
    }, columns.map(([name, cell, numeric]) => h("td", { class: numeric ? "n" : undefined, "data-cell": name }, cell(row)))))));
}

/** Replaces `slot`'s content in place (keeps the page's layout and charts still). */
export function fill(slot, ...children) {
  slot.replaceChildren(...children.flat());
}

export const fmt = {
  int: (n) => Number(n).toLocaleString("en-US"),
  pct: (r) => `${(r * 100).toFixed(1)}%`,
  num: (n) => (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(2)),
  time: (iso) => new Date(iso).toISOString().replace("T", " ").slice(0, 19),
};

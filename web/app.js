// The dashboard's shell: one page at a time (by the URL's hash), each refreshed every few seconds
// from the same API the page is served by.
import { pipelinePage } from "./pipeline.js";
import { sourcesPage } from "./sources.js";
import { anomaliesPage } from "./anomalies.js";
import { forecastsPage } from "./forecasts.js";
import { dlqPage } from "./dlq.js";
import { lineagePage } from "./lineage.js";

const REFRESH_MS = 3000;
const PAGES = { pipeline: pipelinePage, sources: sourcesPage, anomalies: anomaliesPage, forecasts: forecastsPage, dlq: dlqPage, lineage: lineagePage };
const main = document.getElementById("page");
const status = document.getElementById("status");
let current;
let timer;

async function refresh() {
  clearTimeout(timer);
  const page = current;
  try {
    await page.refresh();
    if (page !== current) return;
    status.textContent = `updated ${new Date().toLocaleTimeString()}`;
    status.className = "";
  } catch (err) {
    status.textContent = `refresh failed: ${err.message}`;
    status.className = "error";
  }
  if (page === current) timer = setTimeout(refresh, REFRESH_MS);
}

function show() {
  // #<page>/<rest…>: the rest (e.g. lineage/event/<id>) is the page's to read.
  const [name = "pipeline", ...rest] = location.hash.slice(1).split("/").map(decodeURIComponent);
  const make = PAGES[name] ?? pipelinePage;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.getAttribute("href") === `#${name}`);
  main.replaceChildren();
  main.dataset.page = name;
  current = make(main, rest);
  refresh();
}

window.addEventListener("hashchange", show);
show();

// The dashboard's shell: one page at a time (by the URL's hash), each refreshed every few seconds
// from the same API the page is served by.
import { pipelinePage } from "./pipeline.js";
import { sourcesPage } from "./sources.js";
import { anomaliesPage } from "./anomalies.js";
import { forecastsPage } from "./forecasts.js";
import { dlqPage } from "./dlq.js";

const REFRESH_MS = 3000;
const PAGES = { pipeline: pipelinePage, sources: sourcesPage, anomalies: anomaliesPage, forecasts: forecastsPage, dlq: dlqPage };
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
  const name = location.hash.slice(1).split("/")[0] || "pipeline";
  const make = PAGES[name] ?? pipelinePage;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.getAttribute("href") === `#${name}`);
  main.replaceChildren();
  main.dataset.page = name;
  current = make(main);
  refresh();
}

window.addEventListener("hashchange", show);
show();

// The lmarenarev dashboard. It reads the JSON endpoints (the admin key, when one is needed, goes
// in the X-Admin-Key header and is kept in sessionStorage), follows /api/monitor/events for
// live changes, and puts every value in the page with textContent: data is never HTML.
import { renderCharts, resizeCharts } from "./charts.js";
import {
  $, badge, clock, count, debounce, duration, el, fill, percent, row, seconds, shortId, tokens,
} from "./dom.js";
import { galleryPage, renderGallery } from "./gallery.js";
import { renderDetail, renderPerformance, renderWorkers } from "./views.js";

const KEY_STORE = "lmarenarev.adminKey";
const PAGE_SIZE = 25;
const REFRESH_GAP_MS = 1000;

const state = {
  key: sessionStorage.getItem(KEY_STORE) || "",
  tab: "overview",
  offset: 0,
  total: 0,
  filters: { q: "", model: "", status: "", key: "" },
  version: -1,
  startedAt: null,
  refreshTimer: null,
  lastRefresh: 0,
  chartMinutes: 60,
  active: [],
  activeAt: 0,
};

// --- talking to the gateway -----------------------------------------------------------------

class AccessError extends Error {
  constructor(status, code, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

function headers() {
  const out = { Accept: "application/json" };
  if (state.key) out["X-Admin-Key"] = state.key;
  return out;
}

async function call(path) {
  const response = await fetch(path, { headers: headers(), cache: "no-store" });
  if (response.status === 401 || response.status === 403) {
    const body = await response.json().catch(() => ({}));
    const error = body.error || {};
    throw new AccessError(response.status, error.code, error.message);
  }
  return response;
}

async function api(path) {
  const response = await call(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

// --- views ----------------------------------------------------------------------------------

function renderStats(stats) {
  state.startedAt = stats.started_at;
  const totals = stats.totals;
  $("card-total").textContent = count(totals.requests);
  $("card-avg").textContent = seconds(totals.avg_ms);
  $("card-p95").textContent = seconds(totals.p95_ms);
  $("card-error-rate").textContent = percent(totals.error_rate);
  $("card-tokens").textContent = `${count(totals.prompt_tokens)} / ${count(totals.completion_tokens)}`;
  showWorkers(stats.workers);
  $("card-active").textContent = count(stats.active_requests);
  $("window-note").textContent = stats.window_hours ? `last ${stats.window_hours} h` : "all";
  tickUptime();
  const models = stats.models.map((m) => row([
    m.model, count(m.requests), percent(m.success_rate), seconds(m.p50_ms), seconds(m.p95_ms),
    seconds(m.ttft_p50_ms), count(m.prompt_tokens), count(m.completion_tokens), count(m.retries),
    failures(m.error_kinds),
  ]));
  fill("models-table", models, "models-empty");
  updateModelFilter(stats.models.map((m) => m.model));
  const kinds = stats.error_kinds.map((k) => {
    const li = el("li");
    li.append(el("span", k.kind, "kind"), el("span", count(k.count), "n"));
    return li;
  });
  $("error-kinds").replaceChildren(...kinds);
  const update = stats.update;
  $("update-notice").hidden = !update;
  $("update-notice").textContent = update ? update.notice : "";
}

function failures(kinds) {  // why a model's requests failed, the most frequent first
  if (!kinds || !kinds.length) return "–";
  const shown = kinds.slice(0, 3).map((k) => `${k.kind} ×${count(k.count)}`);
  return kinds.length > 3 ? `${shown.join(", ")}, …` : shown.join(", ");
}

function showWorkers(workers) {  // the count, and a banner when no tab is connected
  $("card-workers").textContent = count(workers);
  $("no-tab").hidden = workers > 0;
}

function tickUptime() {
  if (state.startedAt !== null) {
    $("card-uptime").textContent = duration(Date.now() / 1000 - state.startedAt);
  }
}

function updateModelFilter(models) {
  const select = $("filter-model");
  const known = new Set([...select.options].map((o) => o.value));
  for (const model of models) {
    if (!known.has(model)) {
      const option = el("option", model);
      option.value = model;
      select.append(option);
    }
  }
}

function renderActive(active) {
  state.active = active;
  state.activeAt = Date.now();
  tickActive();
}

function tickActive() {  // elapsed times move between two events
  const active = state.active;
  const since = Date.now() - state.activeAt;
  $("card-active").textContent = count(active.length);
  const rows = active.map((a) => row([
    shortId(a.id), a.model, a.key_name || "–", a.conversation || "–", badge(a.phase),
    a.worker_id || "–",
    count(a.attempts), seconds(a.elapsed_ms + since),
  ], a.id));
  fill("active-table", rows, "active-empty");
}

function statusBadge(entry) {
  return badge(entry.status === "error" ? `${entry.http_status}` : entry.status, entry.status);
}

function renderRequests(page) {
  state.total = page.total;
  const rows = page.requests.map((r) => row([
    clock(r.started_at), r.model, r.key_name || "–", r.conversation || "–", r.api,
    statusBadge(r),
    seconds(r.duration_ms),
    seconds(r.ttft_ms), tokens(r), count(r.retries), r.worker_id || "–", shortId(r.id),
  ], r.id));
  fill("requests-table", rows, "requests-empty");
  const last = Math.min(page.offset + page.requests.length, page.total);
  $("page-info").textContent = page.total ? `${page.offset + 1}–${last} of ${page.total}` : "";
  $("prev").disabled = page.offset === 0;
  $("next").disabled = last >= page.total;
}

function renderErrors(page) {
  const rows = page.requests.map((r) => row([
    clock(r.started_at), r.model, statusBadge(r), r.error_kind || "–", r.upstream_kind || "–",
    r.error_message || "", shortId(r.id),
  ], r.id));
  fill("errors-table", rows, "errors-empty");
}

async function showDetail(id) {
  renderDetail(await api(`/api/request/${encodeURIComponent(id)}`));
}

// --- loading --------------------------------------------------------------------------------

function requestsQuery() {
  const params = new URLSearchParams({ limit: PAGE_SIZE, offset: state.offset });
  const f = state.filters;
  if (f.q) params.set("q", f.q);
  if (f.model) params.set("model", f.model);
  if (f.status) params.set("status", f.status);
  if (f.key) params.set("key", f.key);
  return params.toString();
}

async function refresh() {
  state.lastRefresh = Date.now();
  const jobs = [api("/api/monitor/stats").then(renderStats)];
  if (state.tab === "overview") {
    jobs.push(api(`/api/monitor/timeseries?minutes=${state.chartMinutes}`).then(renderCharts));
  }
  if (state.tab === "requests") jobs.push(loadRequests());
  if (state.tab === "errors") jobs.push(api("/api/monitor/logs/errors?limit=50").then(renderErrors));
  if (state.tab === "workers") {
    jobs.push(api("/api/monitor/workers").then(renderWorkers));
    jobs.push(api("/api/monitor/performance").then(renderPerformance));
  }
  if (state.tab === "images") jobs.push(renderGallery(call, (e) => e instanceof AccessError));
  try {
    await Promise.all(jobs);
  } catch (error) {
    handle(error);
  }
}

function loadRequests() {
  return api(`/api/monitor/logs/requests?${requestsQuery()}`).then(renderRequests);
}

function scheduleRefresh() {
  if (state.refreshTimer !== null) return;
  const wait = Math.max(0, REFRESH_GAP_MS - (Date.now() - state.lastRefresh));
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = null;
    refresh();
  }, wait);
}

// --- live updates: server-sent events read with fetch (so the key stays in a header) --------

async function follow() {
  for (;;) {
    try {
      const response = await call("/api/monitor/events");
      if (!response.ok || !response.body) throw new Error(`events: HTTP ${response.status}`);
      setLive(true);
      await readEvents(response.body);
    } catch (error) {
      setLive(false);
      if (error instanceof AccessError) return handle(error);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}

async function readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      onEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  }
}

function onEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trim());
  }
  if (name !== "change") return;
  const change = JSON.parse(data.join("\n"));
  renderActive(change.active);
  showWorkers(change.workers);
  tickUptime();
  if (change.version !== state.version) {
    state.version = change.version;
    scheduleRefresh();
  }
}

function setLive(on) {
  $("live").classList.toggle("off", !on);
}

// --- access ---------------------------------------------------------------------------------

function handle(error) {
  if (error instanceof AccessError) {
    if (error.status === 401) {
      showLogin(state.key ? "That key is not the admin key. Try again." : null);
    } else {
      showFatal(error.message);
    }
    return;
  }
  console.error(error);
}

function showLogin(message) {
  sessionStorage.removeItem(KEY_STORE);
  state.key = "";
  $("dashboard").hidden = true;
  $("tabs").hidden = true;
  $("login").hidden = false;
  if (message) $("login-message").textContent = message;
  $("key-input").focus();
}

function showFatal(message) {
  $("dashboard").hidden = true;
  $("tabs").hidden = true;
  $("login").hidden = true;
  $("fatal").hidden = false;
  $("fatal").textContent = message;
}

async function open() {
  try {
    await api("/api/monitor/stats").then(renderStats);
  } catch (error) {
    return handle(error);
  }
  $("login").hidden = true;
  $("dashboard").hidden = false;
  $("tabs").hidden = false;
  select(location.hash.slice(1) || "overview");
  follow();
}

function select(tab) {
  if (!document.querySelector(`[data-view="${CSS.escape(tab)}"]`)) tab = "overview";
  state.tab = tab;
  for (const view of document.querySelectorAll("[data-view]")) view.hidden = view.dataset.view !== tab;
  for (const button of document.querySelectorAll(".tab")) {
    button.classList.toggle("selected", button.dataset.tab === tab);
  }
  history.replaceState(null, "", `#${tab}`);
  refresh();
  if (tab === "overview") requestAnimationFrame(resizeCharts);  // drawn while hidden: 0 wide
}

// --- wiring ---------------------------------------------------------------------------------

function readFilters() {
  state.filters = {
    q: $("search").value.trim(),
    model: $("filter-model").value,
    status: $("filter-status").value,
    key: $("filter-key").value.trim(),
  };
  state.offset = 0;
  loadRequests().catch(handle);
}

function clickedId(event) {
  const tr = event.target.closest("tr[data-id]");
  return tr ? tr.dataset.id : null;
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.key = $("key-input").value;
    sessionStorage.setItem(KEY_STORE, state.key);
    $("key-input").value = "";
    open();
  });
  for (const button of document.querySelectorAll(".tab")) {
    button.addEventListener("click", () => select(button.dataset.tab));
  }
  const filtersChanged = debounce(readFilters, 250);
  $("filters").addEventListener("input", filtersChanged);
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    readFilters();
  });
  $("prev").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - PAGE_SIZE);
    loadRequests().catch(handle);
  });
  $("next").addEventListener("click", () => {
    state.offset += PAGE_SIZE;
    loadRequests().catch(handle);
  });
  for (const table of ["requests-table", "errors-table"]) {
    $(table).addEventListener("click", (event) => {
      const id = clickedId(event);
      if (id) showDetail(id).catch(handle);
      if (id && state.tab !== "requests") select("requests");
    });
  }
  $("detail-close").addEventListener("click", () => { $("detail").hidden = true; });
  for (const button of document.querySelectorAll("[data-minutes]")) {
    button.addEventListener("click", () => {
      state.chartMinutes = Number(button.dataset.minutes);
      for (const other of document.querySelectorAll("[data-minutes]")) {
        other.classList.toggle("selected", other === button);
      }
      refresh();
    });
  }
  for (const [id, step] of [["gallery-newer", -1], ["gallery-older", 1]]) {
    $(id).addEventListener("click", () => {
      galleryPage(step);
      renderGallery(call, (e) => e instanceof AccessError).catch(handle);
    });
  }
  window.addEventListener("resize", debounce(resizeCharts, 150));
  setInterval(() => {
    tickUptime();
    if (state.active.length) tickActive();
  }, 1000);
  open();
});

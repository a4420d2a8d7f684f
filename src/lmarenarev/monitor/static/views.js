// The dashboard's views that need nothing but their data: the worker tabs, the performance
// figures, one request's detail (every value as text, through dom.js).
import {
  $, badge, clock, count, duration, fields, fill, prettyPrompt, retryText, row, seconds, tokens,
} from "./dom.js";

function accountText(w) {  // the tab's LMArena account (/api/me) and its quota pulse
  const state = { logged_in: "logged in", anonymous: "anonymous", unknown: "–" }[w.account] || "–";
  return w.pulse === null || w.pulse === undefined ? state : `${state}, pulse ${w.pulse}`;
}

export function renderWorkers(list) {
  const rows = list.workers.map((w) => row([
    w.managed ? `${w.id} (managed)` : w.id, badge(w.health), w.page_url, accountText(w),
    w.script_version, w.transport,
    `${w.jobs} / ${w.capacity}`, duration(w.connected_seconds), `${w.last_seen_seconds.toFixed(1)} s ago`,
  ]));
  fill("workers-table", rows, "workers-empty");
  renderBrowser(list.browser);
}

function renderBrowser(browser) {  // the managed browser of `serve --browser`, if any
  $("browser-panel").hidden = !browser;
  if (!browser) return;
  fields("browser-facts", [
    ["state", browser.state], ["browser", browser.version || browser.executable], ["pid", browser.pid],
    ["up", browser.uptime_seconds === null ? null : duration(browser.uptime_seconds)],
    ["restarts", count(browser.restarts)], ["mode", browser.headless ? "headless" : "headful"],
    ["profile", browser.profile], ["last exit", browser.last_exit], ["last error", browser.last_error],
  ]);
  const rows = browser.tabs.map((t) => row([
    String(t.index), badge(t.state, t.state === "connected" ? "ready" : "reloading"),
    t.worker || "–", t.url, count(t.reopened), t.last_reason || "–",
  ]));
  fill("browser-tabs", rows, "browser-tabs-empty");
}

export function renderPerformance(perf) {
  const store = perf.store;
  const dl = perf.downloads;
  const cache = perf.image_cache;
  fields("performance", [
    ...Object.entries(perf.state),
    ["event loop lag", `${perf.event_loop_lag_ms.toFixed(2)} ms`],
    ["request log", store.path],
    ["log size", `${count(store.size_bytes)} bytes`],
    ["written / pending", `${count(store.written)} / ${count(store.pending)}`],
    ["dropped / failed", `${count(store.dropped)} / ${count(store.failed)}`],
    ["log bodies", store.log_bodies ? "on" : "off"],
    ["retention", `${store.retention_days || "∞"} days, ${store.max_rows || "∞"} rows`],
    ["log error", store.error],
    ["image downloads", `${count(dl.completed)} done, ${count(dl.failed)} failed, ${count(dl.retries)} retries`],
    ["download slots", `${count(dl.active)} busy of ${count(dl.max_concurrent)}`],
    ["download time", `${seconds(dl.avg_ms)} average, ${seconds(dl.slowest_ms)} slowest`],
    ["downloaded", `${count(dl.bytes)} bytes`],
    ["image cache", `${count(cache.entries)} / ${count(cache.max_entries)} images, ${count(cache.bytes)} / ${count(cache.max_bytes)} bytes`],
    ["cache hits / misses", `${count(cache.hits)} / ${count(cache.misses)} (${count(cache.evicted)} evicted)`],
  ]);
}

export function renderDetail(detail) {
  $("detail").hidden = false;
  $("detail-id").textContent = detail.id;
  fields("detail-fields", [
    ["started", clock(detail.started_at)], ["api", detail.api], ["model", detail.model],
    ["key", detail.key_name],
    ["status", `${detail.status} (${detail.http_status})`], ["error kind", detail.error_kind],
    ["upstream", detail.upstream_kind], ["error", detail.error_message],
    ["finish", detail.finish_reason], ["flow", `${detail.flow} / ${detail.call || "–"}`],
    ["LMArena session", detail.conversation || "–"],
    ["stream", detail.stream ? "yes" : "no"], ["worker", detail.worker_id],
    ["first token", seconds(detail.ttft_ms)], ["duration", seconds(detail.duration_ms)],
    ["tokens in / out", tokens(detail)], ["tokens from", detail.tokens_source || "unknown"],
    ["attempts", detail.attempts], ["retries", retryText(detail.retry_kinds)],
    ["bytes received", count(detail.bytes_in)],
  ]);
  const bodies = detail.bodies;
  $("detail-bodies").hidden = !bodies;
  $("detail-no-bodies").hidden = Boolean(bodies);
  if (bodies) {
    $("detail-prompt").textContent = prettyPrompt(bodies.prompt);
    $("detail-reasoning").textContent = bodies.reasoning || "–";
    $("detail-reply").textContent = bodies.reply || "–";
  }
  $("detail").scrollIntoView({ block: "nearest" });
}

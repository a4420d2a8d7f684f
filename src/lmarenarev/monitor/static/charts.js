// The dashboard's charts: requests and errors, latency and first-token percentiles and tokens
// over time, from /api/monitor/timeseries. Drawn with uPlot (vendor/uplot/, loaded by the page
// before this module and served by the gateway: no CDN, so the charts work offline).
import { $ } from "./dom.js";

const HEIGHT = 170;
const COLORS = { blue: "#3b5bdb", red: "#c92a2a", green: "#2b8a3e", orange: "#e67700",
                 teal: "#0c8599", violet: "#7048e8" };

// id of the element → what it draws: [field of a point, label, colour] and how
const CHARTS = [
  { id: "chart-requests", bars: true, unit: "",
    series: [["requests", "requests", COLORS.blue], ["errors", "errors", COLORS.red]] },
  { id: "chart-latency", scale: 1 / 1000, unit: "s",
    series: [["p50_ms", "p50", COLORS.green], ["p95_ms", "p95", COLORS.orange]] },
  { id: "chart-ttft", scale: 1 / 1000, unit: "s",
    series: [["ttft_p50_ms", "p50", COLORS.teal], ["ttft_p95_ms", "p95", COLORS.violet]] },
  { id: "chart-tokens", bars: true, unit: "",
    series: [["prompt_tokens", "in", COLORS.blue], ["completion_tokens", "out", COLORS.orange]] },
];

const plots = new Map();

function columns(chart, points) {
  const scale = chart.scale || 1;
  const xs = points.map((p) => p.start);
  // a zero bar is left out (no baseline clutter); a bucket without requests has no percentile
  const value = (v) => (v === null || (chart.bars && v === 0) ? null : v * scale);
  const ys = chart.series.map(([key]) => points.map((p) => value(p[key])));
  return [xs, ...ys];
}

function format(chart, v) {
  if (v === null || v === undefined) return "–";
  if (chart.unit === "s") return v < 1 ? `${Math.round(v * 1000)} ms` : `${+v.toFixed(2)} s`;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function width(holder) {
  return Math.max(240, Math.floor(holder.clientWidth || holder.parentElement.clientWidth || 480));
}

function options(chart, holder, step) {
  const uPlot = window.uPlot;
  // a bar covers its bucket, from its start; a percentile is a dot joined to its neighbours
  const bars = chart.bars ? uPlot.paths.bars({ size: [0.8, 60], align: 1, gap: 1 }) : undefined;
  return {
    width: width(holder),
    height: HEIGHT,
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: { time: true, range: (u, min, max) => [min, max + step] },
      y: { range: (u, min, max) => [0, max > 0 ? max * 1.15 : 1] },
    },
    axes: [{}, { size: 60, values: (u, vals) => vals.map((v) => format(chart, v)) }],
    series: [
      {},
      ...chart.series.map(([, label, stroke]) => ({
        label, stroke, width: 2, fill: chart.bars ? `${stroke}55` : undefined, paths: bars,
        points: { show: !chart.bars, size: 5, fill: stroke },
        value: (u, v) => format(chart, v), spanGaps: false,
      })),
    ],
  };
}

export function renderCharts(data) {
  if (typeof window.uPlot !== "function") return;  // the vendored file did not load
  for (const chart of CHARTS) {
    const holder = $(chart.id);
    const values = columns(chart, data.points);
    const known = plots.get(chart.id);
    if (known && known.step === data.bucket_seconds) {
      known.plot.setData(values);
      continue;
    }
    if (known) known.plot.destroy();  // another window: its bucket size changes the x range
    holder.replaceChildren();
    const plot = new window.uPlot(options(chart, holder, data.bucket_seconds), values, holder);
    plots.set(chart.id, { plot, step: data.bucket_seconds });
  }
  $("charts-note").textContent = `${data.points.length} buckets of ${data.bucket_seconds / 60} min`;
}

export function resizeCharts() {
  for (const [id, known] of plots) {
    known.plot.setSize({ width: width($(id)), height: HEIGHT });
  }
}

"""What the dashboard's template lays out: its tabs, its cards, the endpoints it lists."""

from __future__ import annotations

TABS = (
    ("overview", "Overview"),
    ("requests", "Requests"),
    ("errors", "Errors"),
    ("workers", "Workers"),
    ("images", "Images"),
    ("api", "API"),
)
CARDS = (
    ("active", "active requests"),
    ("total", "requests"),
    ("avg", "average latency"),
    ("p95", "p95 latency"),
    ("error-rate", "error rate"),
    ("tokens", "tokens in / out"),
    ("workers", "worker tabs"),
    ("uptime", "uptime"),
)
CHARTS = (
    ("chart-requests", "Requests and errors"),
    ("chart-latency", "Latency p50 / p95"),
    ("chart-ttft", "Time to first token p50 / p95"),
    ("chart-tokens", "Tokens in / out"),
)
CHART_WINDOWS = ((60, "1 h"), (360, "6 h"), (1440, "24 h"))
ENDPOINTS = (
    ("POST /v1/chat/completions", "OpenAI chat completions (streaming or not)"),
    ("GET /v1/models", "the models clients may use"),
    ("GET /api/monitor/stats?hours=24", "totals, latency, error rate, per model"),
    ("GET /api/monitor/active", "the requests running now"),
    ("GET /api/monitor/workers", "the connected worker tabs"),
    ("GET /api/monitor/logs/requests?limit=&offset=&q=", "the request log, newest first"),
    ("GET /api/monitor/logs/errors?limit=&offset=&q=", "failed requests"),
    ("GET /api/request/{id}", "one request, with its bodies when log_bodies is on"),
    ("GET /api/monitor/timeseries?minutes=60", "requests, errors, latency, first token, tokens "
     "per minute (the charts)"),
    ("GET /api/monitor/performance", "state sizes, the request log's writer, image downloads "
     "and cache"),
    ("GET /api/monitor/events", "live changes (server-sent events)"),
    ("GET /metrics", "Prometheus text format"),
    ("GET /health · GET /ready", "alive · a worker tab is connected"),
)


def context(static: str, version: str) -> dict[str, object]:
    return {
        "static": static,
        "asset_version": version,
        "tabs": TABS,
        "cards": CARDS,
        "charts": CHARTS,
        "chart_windows": CHART_WINDOWS,
        "endpoints": ENDPOINTS,
    }

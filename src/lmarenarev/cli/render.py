"""The admin commands' answers as text for people (pure: data in, lines out)."""

from __future__ import annotations

import time
from typing import Any


def _ago(at: float | None, now: float) -> str:
    if at is None:
        return "never"
    return f"{duration(now - at)} ago"


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m"
    return f"{hours // 24}d {hours % 24}h"


def waiting_for(mode: str, target: str, model: str | None, tabs: list[dict[str, Any]]) -> str:
    where = "\n".join(f"  🎯 {tab['page_url']}" for tab in tabs)
    side = f" of model {target}" if mode == "battle" else ""
    into = f"model_endpoint_map.json ({model!r})" if model else "config.jsonc"
    return (
        f"Capture armed in {len(tabs)} tab(s) (🎯 in the title):\n{where}\n"
        f"Waiting for the page's next retry / create-evaluation / post-to-evaluation request "
        f"(mode {mode}{', target ' + target if mode == 'battle' else ''}).\n"
        f"In that tab, click Retry under an answer{side} (or send a message); "
        f"the ids go into {into}."
    )


def captured(answer: dict[str, Any]) -> list[str]:
    lines = [
        f"Captured from {answer['page_url']} ({answer['route']}):",
        f"  session_id  {answer['session_id']}",
        f"  message_id  {answer['message_id']}",
        f"  mode        {answer['mode']}"
        + (f", target {answer['battle_target']}" if answer["mode"] == "battle" else ""),
        f"Wrote {answer['file']} ({', '.join(answer['written'])}).",
    ]
    if answer.get("reloaded"):
        lines.append("The gateway uses them now (no restart needed).")
    lines += [f"warning: {warning}" for warning in answer.get("warnings", [])]
    return lines


def models(answer: dict[str, Any]) -> list[str]:
    rows = answer["models"]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["type"]] = counts.get(row["type"], 0) + 1
    summary = ", ".join(f"{count} {kind}" for kind, count in sorted(counts.items()))
    source = {"catalogue": "its model catalogue", "page": "its page (initialModels)"}.get(
        answer.get("source") or "", "LMArena")
    lines = [f"LMArena offers {len(rows)} models ({summary}), read from {source}; written to "
             f"{answer['file']}"]
    arenas = answer.get("arenas") or {}
    if arenas:
        lines.append("Arenas: " + ", ".join(f"{name} {count}" for name, count in arenas.items()))
    width = max((len(row["name"]) for row in rows), default=4)
    lines.append(f"  {'name':<{width}}  type      in models.json  organization  also known as")
    for row in rows:
        mark = "yes" if row["in_models_json"] else "-"
        org = row["organization"] or "(anonymous)"
        aka = ", ".join(row.get("names") or []) or "-"
        lines.append(f"  {row['name']:<{width}}  {row['type']:<8}  {mark:<14}  {org:<12}  {aka}")
    merged = answer["merged"]
    if merged["added"]:
        added = ", ".join(f"{name} ({_kind(value)})" for name, value in merged["added"].items())
        lines.append(f"Added to models.json: {added}")
    if merged["already_present"]:
        lines.append(f"Already in models.json (kept): {', '.join(merged['already_present'])}")
    for name, why in merged["skipped"].items():
        lines.append(f"Skipped {name}: {why}")
    return lines


def _kind(value: str) -> str:
    suffix = value.rsplit(":", 1)[-1] if ":" in value else "text"
    return suffix if suffix in ("image", "search") else "text"


def status(data: dict[str, Any], url: str, now: float | None = None) -> list[str]:
    now = time.time() if now is None else now
    lines = [
        f"Gateway   {url}  up {duration(data['uptime_seconds'])}, lmarenarev {data['version']}, "
        f"pid {data['pid']}, flow {data['flow']}",
        f"Home      {data['home']}",
    ]
    lines += _workers(data)
    lines += _browser(data.get("browser"))
    lines += _ids(data)
    lines += _models(data, now)
    lines += _site(data)
    lines += _errors(data, now)
    return lines


def _account(account: dict[str, Any]) -> str:
    state = {"logged_in": "logged in", "anonymous": "anonymous"}.get(account["state"], "account ?")
    pulse = f", pulse {account['pulse']}" if account.get("pulse") is not None else ""
    return state + pulse


def _site(data: dict[str, Any]) -> list[str]:
    """What was learned per site, and the drift LMArena showed (arena/site.py)."""
    site = data.get("site")
    if not site:
        return []
    chosen = site["configured"]
    learned = "; ".join(
        f"{origin}: " + ", ".join(f"{k}={v}" for k, v in values.items())
        for origin, values in site["learned"].items()
    )
    lines = [f"Requests  mode {chosen['mode']}, modality text {chosen['modality']['text']}"
             + (f"; learned {learned}" if learned else "")]
    drift = site["drift"]
    found = [
        f"{label}: " + ", ".join(f"{key} ×{count}" for key, count in drift[name].items())
        for name, label in (("unknown_record_prefixes", "unknown record prefixes"),
                            ("unknown_catalog_fields", "unknown catalogue fields"),
                            ("refused_values", "refused values"))
        if drift[name]
    ]
    lines.append("Drift     " + ("; ".join(found) if found else "none seen"))
    return lines


def _workers(data: dict[str, Any]) -> list[str]:
    workers = data["workers"]
    if not workers and data.get("browser"):
        return ["Workers   none connected yet (the managed browser's tabs connect by themselves)"]
    if not workers:
        return ["Workers   none connected: open https://arena.ai/ with the userscript installed"]
    armed = ", capture armed 🎯" if data["capture_armed"] else ""
    lines = [f"Workers   {len(workers)} connected{armed}"]
    for w in workers:
        flags = " (older script: it updates itself, or reload)" if w["script_outdated"] else ""
        flags += " (reloading)" if w["reloading"] else ""
        flags += " (managed)" if w.get("managed") else ""
        if w.get("resting_seconds"):
            flags += f" (resting {duration(w['resting_seconds'])}: {w['resting_reason']})"
        account = f"  {_account(w['account'])}" if w.get("account") else ""
        lines.append(
            f"  {w['id']}  {w['transport']:<9}  jobs {w['jobs']}/{w['capacity']}  "
            f"script {w['script_version']}  {w['page_url']}{account}{flags}"
        )
    return lines


def _browser(browser: dict[str, Any] | None) -> list[str]:
    """The managed browser (`serve --browser`) and its tabs; nothing when there is none."""
    if browser is None:
        return []
    facts = [browser["version"] or browser["executable"] or "no browser found"]
    if browser["pid"] is not None:
        facts.append(f"pid {browser['pid']}")
    if browser["uptime_seconds"] is not None:
        facts.append(f"up {duration(browser['uptime_seconds'])}")
    if browser["next_start_seconds"] is not None:
        facts.append(f"starts again in {duration(browser['next_start_seconds'])}")
    facts += [f"restarts {browser['restarts']}", "headless" if browser["headless"] else "headful"]
    lines = [f"Browser   {browser['state']}: {', '.join(facts)}",
             f"  profile {browser['profile']}"]
    for problem in ("last_exit", "last_error"):
        if browser[problem]:
            lines.append(f"  {problem.replace('_', ' ')}: {browser[problem]}")
    for tab in browser["tabs"]:
        worker = f"worker {tab['worker']} ({tab['transport']})" if tab["worker"] else "no worker"
        again = f"  reopened {tab['reopened']}: {tab['last_reason']}" if tab["reopened"] else ""
        again += " (hidden: throttled by the browser)" if tab["visibility"] == "hidden" else ""
        lines.append(f"  tab {tab['index']}  {tab['state']:<13}  {worker}  {tab['url']}{again}")
    return lines


def _ids(data: dict[str, Any]) -> list[str]:
    """The legacy flow's ids; the modern flow needs none, so it shows them only when set."""
    ids = data["ids"]
    legacy = data["flow"] == "legacy"
    mode = ids["mode"] + (f", target {ids['battle_target']}" if ids["mode"] == "battle" else "")
    lines = []
    if ids["session_id"]:
        used = "" if legacy else ", used only by the legacy flow"
        lines.append(
            f"Ids       session {ids['session_id']}, message {ids['message_id']} ({mode}{used})"
        )
    elif legacy:
        lines.append("Ids       none captured: the legacy flow needs them (lmarenarev capture-ids)")
    pools = data["endpoint_map"]["models"]
    if pools:
        lines.append(f"Pools     {data['endpoint_map']['strategy']}")
    for model, mappings in pools.items():
        for m in mappings:
            cooling = m["cooldown_seconds_left"]
            state = f"cooling down {duration(cooling)}" if cooling else "ready"
            mode = m["mode"] or "default mode"
            lines.append(f"  {model}: session {m['session_id']} ({mode}) {state}")
    return lines


def _models(data: dict[str, Any], now: float) -> list[str]:
    models = data["models"]
    catalog = models["catalog"]
    exposed = " (every available model is exposed)" if models["expose_available_models"] else ""
    failed = f"; last error: {catalog['last_error']}" if catalog["last_error"] else ""
    read = _ago(catalog["updated_at"], now)
    lines = [
        _offered(models, exposed),
        f"Catalogue {catalog['count']} models from LMArena's {catalog.get('source') or 'site'}"
        f", read {read}{failed}",
    ]
    if catalog.get("arenas"):
        lines.append("  arenas: " + ", ".join(f"{a} {n}" for a, n in catalog["arenas"].items()))
    if models["withdrawn"]:
        lines.append(f"  no longer offered by LMArena: {', '.join(models['withdrawn'])}")
    return lines


def _offered(models: dict[str, Any], exposed: str) -> str:
    automatic = models.get("automatic", 0)
    if models["configured"]:
        more = f" ({automatic} automatically)" if automatic else ""
        configured = len(models["configured"])
        return f"Models    {configured} in models.json, {models['offered']} offered{more}{exposed}"
    if automatic:
        return (f"Models    {automatic} offered automatically: LMArena's list under their public "
                "names (no models.json; models.json overrides)")
    if models.get("catalog_refresh_minutes", 1) <= 0:
        return ("Models    none: no models.json, and LMArena's list is not read when a tab "
                "connects (model_catalog_refresh_minutes 0): lmarenarev update-models")
    return ("Models    none yet: without models.json every model of LMArena's list is offered "
            "once a tab has connected and read it")


def _errors(data: dict[str, Any], now: float) -> list[str]:
    errors = data["errors"]
    if not errors:
        return ["Errors    none recently"]
    lines = [f"Errors    last {len(errors)}:"]
    for e in errors[::-1]:
        model = f" {e['model']}" if e.get("model") else ""
        what = f"{e['status']} {e['code']}: {e['message']}"
        lines.append(f"  {_ago(e['at'], now)}  {e['source']}{model}: {what}")
    return lines


def reloaded(answer: dict[str, Any]) -> list[str]:
    changed = ", ".join(answer["changed"]) or "nothing"
    lines = [f"Reloaded. Changed: {changed}"]
    if answer["restart_needed"]:
        lines.append(f"Takes effect at the next start: {', '.join(answer['restart_needed'])}")
    lines += [f"warning: {warning}" for warning in answer["warnings"]]
    return lines

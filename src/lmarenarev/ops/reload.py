"""Hot reload: re-read the config files and swap what the running gateway uses.

Everything is read and validated first (`config_files.load_config`); a file that is wrong raises
`ConfigError` with the reason and nothing changes. Then the new settings, models, endpoint map,
relay configuration and chat service are swapped in on the event loop without an `await` in
between, so a request sees either the old configuration or the new one. Requests already running
finish with what they started with. Keys in `RESTART_KEYS` are read once at start: a change is
reported as needing a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from ..arena.catalog import model_kind, model_name, model_type
from ..chat.plan import ChatService
from ..chat.token_pool import POOL_KEYS, configure_tabs
from ..config.files import ConfigSource, LoadedConfig, load_config
from ..config.jsonc import ConfigError
from ..config.settings import Settings
from ..gateway import Gateway, relay_config
from ..models.catalog import effective_models, model_aliases, no_models_hint

log = logging.getLogger(__name__)

RESTART_KEYS = (
    "host",
    "port",
    "worker_token",
    "api_key",
    "api_keys",
    "admin_key",
    "cors_origins",
    "allow_insecure_bind",
    "max_concurrent_downloads",
    "download_timeout",
    "download_ca_bundle",
    "memory_management",
    "browser",  # the managed browser runs with the settings it started with
)


@dataclass(frozen=True)
class ReloadReport:
    changed: list[str]
    restart_needed: list[str]
    warnings: list[str]
    sources: dict[str, str]


def config_source(gw: Gateway) -> ConfigSource:
    return gw.ops.source or ConfigSource(gw.home)


def refresh_models(gw: Gateway) -> None:
    """Recompute the models clients may use from models.json and the catalogue, the other
    names they go by, and the catalogue's models of kinds the gateway cannot serve yet."""
    catalog = gw.ops.catalog
    models, withdrawn = effective_models(
        gw.models, catalog.models, gw.settings.expose_available_models, catalog.gone
    )
    gw.chat.models = models
    gw.chat.withdrawn = withdrawn
    gw.chat.no_models_hint = no_models_hint(catalog, gw.settings.model_catalog_refresh_minutes)
    gw.chat.aliases = model_aliases(models, catalog.models)
    gw.chat.unservable = {
        model_name(model): model_kind(model)
        for model in catalog.models
        if model_type(model) is None and model_name(model) not in models
    }


def configure_site(gw: Gateway) -> None:
    """The configured `mode`/`modality` values (what was learned per site stays)."""
    settings = gw.settings
    gw.site.configure(
        settings.arena_chat_mode, settings.arena_modalities, learn=settings.arena_learn_values
    )


def _changed(old: Settings, new: Settings) -> list[str]:
    return [key for key in Settings.model_fields if getattr(old, key) != getattr(new, key)]


def apply_config(gw: Gateway, loaded: LoadedConfig) -> ReloadReport:
    settings = loaded.settings
    changed = _changed(gw.settings, settings)
    if loaded.models != gw.models:
        changed.append("models.json")
    if loaded.endpoint_map != gw.chat.endpoint_map:
        changed.append("model_endpoint_map.json")
    old_chat = gw.chat
    chat = ChatService(
        settings,
        loaded.models,
        loaded.endpoint_map,
        old_chat.store,
        old_chat.choose,
        selector=old_chat.selector,
    )
    chat.store.capacity = settings.conversation_cache_size
    chat.store.max_age = settings.conversation_max_age_hours * 3600
    pool = gw.pool
    pool.default_capacity = settings.worker_capacity
    pool.ping_interval = settings.worker_ping_interval_seconds
    pool.ping_timeout = settings.worker_ping_timeout_seconds
    pool.max_waiting = settings.max_waiting_requests
    pool.first_tab_wait = settings.first_tab_wait_seconds
    gw.settings, gw.models, gw.chat = settings, loaded.models, chat
    gw.relay_config = relay_config(settings)
    configure_site(gw)
    refresh_models(gw)
    restart = [key for key in changed if key in RESTART_KEYS]
    return ReloadReport(changed, restart, loaded.warnings, loaded.sources)


async def reload_gateway(gw: Gateway) -> ReloadReport:
    """Re-read the files (off the event loop) and swap them in; `ConfigError` keeps the old."""
    try:
        loaded = await asyncio.to_thread(load_config, config_source(gw))
    except ConfigError as exc:
        log.error("reload rejected, the old configuration stays: %s", exc)
        raise
    report = apply_config(gw, loaded)
    if POOL_KEYS.intersection(report.changed):  # the tabs' token pools follow at once
        await configure_tabs(gw.settings, gw.pool)
    for warning in report.warnings:
        log.warning("%s", warning)
    log.info("configuration reloaded; changed: %s", ", ".join(report.changed) or "nothing")
    if report.restart_needed:
        log.warning("these settings take effect at the next start: %s",
                    ", ".join(report.restart_needed))
    return report


def request_reload(gw: Gateway) -> None:
    """Schedule a reload from any thread (the CLI's SIGHUP handler); a no-op before start."""
    loop = gw.ops.loop
    if loop is None or loop.is_closed():
        return

    async def run() -> None:
        with contextlib.suppress(ConfigError):  # logged by reload_gateway
            await reload_gateway(gw)

    loop.call_soon_threadsafe(gw.ops.spawn, run())

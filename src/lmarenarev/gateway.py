"""Everything a running gateway holds, built once and kept on `app.state.gateway`."""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .api.access import AccessPolicy, policy_from_settings
from .api.keys import KeyRing, KeyUsage
from .arena.page import is_arena_origin
from .arena.site import SiteState
from .browser.keeper import BrowserKeeper, browser_config
from .chat.conversation import ConversationStore, Remembered, SessionRef, row_limits
from .chat.plan import ChatService
from .chat.relay import RelayConfig
from .chat.response_store import ResponseStore
from .chat.retry import RetryPolicy
from .config.files import ConfigSource, load_config, worker_token
from .config.settings import Settings
from .media.service import Media, build_media
from .models.files import EndpointMapping, ModelEntry
from .monitor.service import Monitoring, build_monitoring
from .ops.state import Operations
from .store.db import db_path, open_for_reading
from .store.state import ConversationRow, KeyUsageRow, load_conversations, load_key_usage
from .store.writer import StoreWriter
from .workers.links import PollLink
from .workers.pool import WorkerPool

log = logging.getLogger(__name__)
HOUR = 3600.0


@dataclass
class Gateway:
    settings: Settings
    home: Path
    worker_token: str
    version: str
    models: dict[str, ModelEntry]
    pool: WorkerPool
    chat: ChatService
    relay_config: RelayConfig
    keys: KeyRing
    access: AccessPolicy
    site: SiteState  # what each LMArena origin takes, and the drift it showed
    poll_links: dict[str, PollLink] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # the config's, for `serve` to log
    started_at: float = field(default_factory=time.time)
    ops: Operations = field(default_factory=Operations)
    media: Media = field(init=False)  # images and files; set by _assemble
    monitoring: Monitoring = field(init=False)  # request log, dashboard, metrics; likewise
    responses: ResponseStore = field(init=False)  # stored Responses API answers; likewise
    browser: BrowserKeeper | None = None  # the managed browser, when browser.enabled

    def sizes(self) -> dict[str, int]:
        """The size of every per-request and per-worker structure (all 0 when idle, but the
        bounded conversation memory)."""
        return {
            "jobs": len(self.pool.jobs),
            "waiting": self.pool.waiting,
            "busy_slots": sum(len(w.jobs) for w in self.pool.workers.values()),
            "workers": len(self.pool.workers),
            "poll_links": len(self.poll_links),
            "conversations": len(self.chat.store),
            "dropped_frames": self.pool.dropped_frames,
            "active_requests": len(self.monitoring.observer.active),
            "log_queue": self.monitoring.writer.pending,
        }


def relay_config(settings: Settings) -> RelayConfig:
    retry = settings.empty_response_retry
    return RelayConfig(
        wait_for_worker=settings.retry_timeout_seconds if settings.enable_auto_retry else 0.0,
        first_byte_timeout=settings.first_byte_timeout_seconds,
        chunk_timeout=settings.stream_response_timeout_seconds,
        total_timeout=settings.request_timeout_seconds,
        recaptcha_site_key=settings.recaptcha_site_key,
        policy=RetryPolicy(
            empty_enabled=retry.enabled,
            empty_max_retries=retry.max_retries,
            empty_base_delay=retry.base_delay_ms / 1000,
            empty_max_delay=retry.max_delay_ms / 1000,
            rate_limit_max_wait=settings.rate_limit_max_wait_seconds,
        ),
        quota_cooldown=settings.account_quota_cooldown_seconds,
    )


def build_gateway(
    home: Path,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    version: str = __version__,
) -> Gateway:
    """The gateway of a data directory: its config files read (a `ConfigError` names what is
    wrong), its worker token found or made, everything it holds built. `serve`, every test tier
    and the benchmarks start a gateway here; `env` and `overrides` (the command line's
    `--set`s) take precedence over the files, and a reload keeps them."""
    source = ConfigSource(home, dict(env or {}), dict(overrides or {}))
    loaded = load_config(source)
    settings = loaded.settings
    gateway = _assemble(
        settings,
        home=home,
        worker_token=worker_token(settings, home),
        version=version,
        models=loaded.models,
        endpoint_map=loaded.endpoint_map,
    )
    gateway.ops.source = source
    gateway.warnings = list(loaded.warnings)
    return gateway


def _assemble(
    settings: Settings,
    *,
    home: Path,
    worker_token: str,
    version: str,
    models: dict[str, ModelEntry],
    endpoint_map: dict[str, tuple[EndpointMapping, ...]],
) -> Gateway:
    pool = WorkerPool(
        default_capacity=settings.worker_capacity,
        ping_interval=settings.worker_ping_interval_seconds,
        ping_timeout=settings.worker_ping_timeout_seconds,
        max_waiting=settings.max_waiting_requests,
        first_tab_wait=settings.first_tab_wait_seconds,
    )
    store = ConversationStore(
        settings.conversation_cache_size, max_age=settings.conversation_max_age_hours * HOUR
    )
    keys = KeyRing.from_config(settings.api_key, settings.api_keys)
    gateway = Gateway(
        settings=settings,
        home=home,
        worker_token=worker_token,
        version=version,
        models=models,
        pool=pool,
        chat=ChatService(settings, models, endpoint_map, store),
        relay_config=relay_config(settings),
        keys=keys,
        access=policy_from_settings(settings, keys),
        site=SiteState(
            settings.arena_chat_mode,
            settings.arena_modalities,
            learn=settings.arena_learn_values,
        ),
    )
    gateway.media = build_media(
        lambda: gateway.settings,
        home,
        pool,
        gateway.ops.spawn,
        lambda: gateway.relay_config.wait_for_worker,
    )
    gateway.monitoring = build_monitoring(lambda: gateway.settings, home, pool, gateway.site)
    gateway.responses = ResponseStore(
        gateway.monitoring.writer.save,
        gateway.monitoring.read,
        settings.conversation_cache_size,
    )
    _keep_state(gateway)
    if settings.browser.enabled:

        def worker_page(origin: str) -> bool:
            return is_arena_origin(origin, gateway.settings.page_origins())

        gateway.browser = BrowserKeeper(
            browser_config(settings.browser, home), is_worker_origin=worker_page
        )
        pool.no_worker_hint = (
            "the managed browser's tabs are not connected (yet); `lmarenarev status` shows why"
        )
    return gateway


def _keep_state(gw: Gateway) -> None:
    """The conversation map and the keys' usage: restored from the store, and saved to it
    (by its writer) as they change, so a restart keeps both (store/state.py)."""
    store, keys, writer = gw.chat.store, gw.keys, gw.monitoring.writer
    since = time.time() - store.max_age if store.max_age > 0 else None
    conversations, usage = _read_state(gw.home, since, row_limits(store.capacity))
    store.load(
        Remembered(row.kind, row.key, SessionRef(row.session_id, row.message_id), row.stored_at)
        for row in conversations
    )
    keys.restore({
        name: KeyUsage(row.requests, row.rate_limited, row.prompt_tokens,
                       row.completion_tokens, row.last_used)
        for name, row in usage.items()
    })
    if conversations or usage:
        log.info("restored %d conversation map entries and the usage of %d key(s)",
                 len(conversations), len(usage))
    store.persist = functools.partial(_save_conversation, writer)
    keys.on_change = functools.partial(_save_usage, writer)


def _read_state(
    home: Path, since: float | None, limits: dict[str, int]
) -> tuple[list[ConversationRow], dict[str, KeyUsageRow]]:
    """Read directly (the writer is not running yet); nothing when there is no store yet."""
    conn = open_for_reading(db_path(home))
    if conn is None:
        return [], {}
    try:
        return load_conversations(conn, since=since, limits=limits), load_key_usage(conn)
    except sqlite3.Error as exc:  # a log from before these tables (migrated at start), or damaged
        log.debug("no saved state in %s: %s", db_path(home), exc)
        return [], {}
    finally:
        conn.close()


def _save_conversation(writer: StoreWriter, entry: Remembered) -> None:
    ref = entry.session
    writer.save(ConversationRow(entry.kind, entry.key, ref.session_id,
                                ref.assistant_message_id, entry.stored_at))


def _save_usage(writer: StoreWriter, name: str, usage: KeyUsage) -> None:
    writer.save(KeyUsageRow(name, usage.requests, usage.rate_limited, usage.prompt_tokens,
                            usage.completion_tokens, usage.last_used))

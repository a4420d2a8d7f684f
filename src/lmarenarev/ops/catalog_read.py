"""Reading LMArena's model list through a tab: the catalogue route first, the page after.

Since 2026 the list is `GET /nextjs-api/model-catalog` (protocol §4.1 2026), and the page's
HTML no longer embeds `initialModels`; older pages still do, so the page is the fallback. Both
reads are ordinary fetch jobs (workers/page_fetch.py): the userscript knows nothing of either.
`update-models`, the periodic refresh and `doctor` all read here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..arena.catalog import CATALOG_PAGE, extract_models
from ..arena.catalog_route import CATALOG_ROUTE, missing_names_hint, read_catalog
from ..arena.errors import Kind, classify_http
from ..errors import UpstreamFailure
from ..workers.page_fetch import PageResponse, fetch_through_worker
from ..workers.pool import WorkerPool

CATALOG_FETCH_TIMEOUT = 60.0


class CatalogNotFound(UpstreamFailure):
    """Neither the catalogue route nor the page holds a model list."""


@dataclass
class CatalogFetch:
    models: list[dict[str, Any]]
    source: str  # "catalogue" (the 2026 route) or "page" (initialModels)
    arenas: dict[str, int] = field(default_factory=dict)
    unknown_fields: list[str] = field(default_factory=list)  # and "arena:<name>"
    route_status: int | None = None  # what the catalogue route answered
    note: str = ""  # why the page was read instead, in plain words
    dropped: str = ""  # models the catalogue listed without an id or a name, in plain words
    exchanges: list[PageResponse] = field(default_factory=list)  # for the doctor's bundle


async def read_model_list(
    pool: WorkerPool, *, wait: float = 0.0, timeout: float = CATALOG_FETCH_TIMEOUT
) -> CatalogFetch:
    """The models LMArena lists now; `CatalogNotFound` says what each source answered."""
    route = await fetch_through_worker(
        pool, CATALOG_ROUTE, headers={"Accept": "application/json"}, wait=wait,
        timeout=timeout, check=False,
    )
    exchanges = [route]
    problem = classify_http(route.http_status, route.headers, route.body, route.response_type)
    if problem is not None and problem.kind in (Kind.CLOUDFLARE, Kind.AUTH):
        raise problem.to_error()  # the page would say the same: pass the challenge first
    read = read_catalog(route.body) if problem is None else None
    if read is not None and read.models:
        unknown = read.unknown_fields + [f"arena:{name}" for name in read.unknown_arenas]
        dropped = missing_names_hint(read) if read.nameless else ""
        return CatalogFetch(read.models, "catalogue", read.arenas, unknown, route.http_status,
                            dropped=dropped, exchanges=exchanges)
    if read is None:
        note = f"{CATALOG_ROUTE} answered {route.http_status}" + (
            "" if problem is not None else " without a catalogue")
    else:
        note = f"{CATALOG_ROUTE} lists no usable model: " + (
            missing_names_hint(read) if read.nameless else "it is empty")
    page = await fetch_through_worker(
        pool, CATALOG_PAGE, headers={"Accept": "text/html"}, wait=wait, timeout=timeout
    )
    exchanges.append(page)
    models = extract_models(page.body)
    if not models:
        raise CatalogNotFound(
            f"LMArena's model list was not found: {note}, and the page ({CATALOG_PAGE}) holds "
            "no initialModels. Is the tab past Cloudflare's check? Has LMArena changed? Run "
            "`lmarenarev doctor`",
            code="model_list_not_found",
        )
    return CatalogFetch(models, "page", route_status=route.http_status, note=note,
                        exchanges=exchanges)

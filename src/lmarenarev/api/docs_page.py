"""`/docs`: the API's operations as a plain page, from the OpenAPI schema, with no script.

FastAPI's Swagger UI (and ReDoc) load their scripts from a CDN, so offline they showed a blank
page; vendoring Swagger UI would put ≈1.5 MB of third-party script, with its own history of XSS
fixes, on the origin that holds the user's LMArena login. This page lists every operation
(method, path, summary, what it answers) and links `/openapi.json` for any OpenAPI tool. It is
rendered on the server under a CSP that allows no script at all.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

router = APIRouter()

DOCS_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_METHODS = ("get", "post", "put", "patch", "delete")


def operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation of the schema, grouped by its first tag, in path order (pure)."""
    found = []
    for path, item in schema.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            found.append({
                "tag": (operation.get("tags") or ["other"])[0],
                "method": method.upper(),
                "path": path,
                "summary": operation.get("summary", ""),
                "statuses": ", ".join(sorted(operation.get("responses", {}))),
            })
    return sorted(found, key=lambda op: (op["tag"], op["path"], op["method"]))


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
async def docs(request: Request) -> Response:
    app = request.app
    context = {
        "static": "/static/monitor",
        "asset_version": app.version,
        "title": app.title,
        "version": app.version,
        "operations": operations(app.openapi()),
    }
    response = app.state.templates.TemplateResponse(request, "docs.html", context)
    response.headers["Content-Security-Policy"] = DOCS_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response  # type: ignore[no-any-return]

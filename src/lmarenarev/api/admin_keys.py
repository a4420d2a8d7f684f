"""`/api/admin/keys`: every client key's settings and usage (admin only, by its path)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from ..gateway import Gateway

router = APIRouter()


class KeyReport(BaseModel):
    name: str
    enabled: bool
    rpm: int | None
    models: list[str] | None
    requests: int
    rate_limited: int
    prompt_tokens: int
    completion_tokens: int
    last_used: float | None


class KeysReport(BaseModel):
    keys: list[KeyReport]


@router.get("/api/admin/keys", response_model=KeysReport, tags=["admin"])
async def key_usage(request: Request) -> KeysReport:
    gateway: Gateway = request.app.state.gateway
    return KeysReport(keys=[KeyReport.model_validate(row) for row in gateway.keys.report()])

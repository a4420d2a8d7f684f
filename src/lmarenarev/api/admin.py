"""`/api/admin/*`: what the `lmarenarev` commands ask a running gateway. Thin routes.

The admin guard (`auth.py`) covers the `/api/admin` prefix; without an `admin_key` these routes
also answer only clients on this machine.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..config.jsonc import ConfigError
from ..errors import GatewayError, InvalidRequest
from ..gateway import Gateway
from ..monitor.status import gateway_status
from ..ops.actions import CaptureOrder, capture_ids, update_models
from ..ops.doctor import run_doctor
from ..ops.reload import reload_gateway
from .disconnect import race_client


class NotThisMachine(GatewayError):
    status = 403
    type = "permission_error"
    code = "forbidden"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def local_or_admin(request: Request) -> None:
    gw: Gateway = request.app.state.gateway
    if getattr(gw.settings, "admin_key", ""):
        return  # the admin guard has checked the key before any route runs
    if not _loopback(request.client.host if request.client else ""):
        raise NotThisMachine("admin routes answer only this machine unless admin_key is set")


router = APIRouter(prefix="/api/admin", dependencies=[Depends(local_or_admin)])


def _gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


class CaptureBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["direct_chat", "battle"] | None = None
    target: Literal["A", "B"] | None = None
    model: str | None = Field(None, min_length=1)
    append: bool = False
    timeout: float = Field(120.0, gt=0, le=3600)

    @field_validator("target", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class DoctorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, min_length=1, max_length=200)
    bundle: bool = False


class UpdateModelsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merge: list[str] = Field(default_factory=list)
    merge_all: bool = False


@router.post("/capture-ids", response_model=None)
async def capture(request: Request, body: CaptureBody) -> Response:
    """Long-poll until the page sends ids (200), no tab (503), nothing in time (408)."""
    gw = _gateway(request)
    order = CaptureOrder(
        mode=body.mode or gw.settings.id_updater_last_mode,
        target=body.target or gw.settings.id_updater_battle_target,
        model=body.model,
        append=body.append,
        timeout=body.timeout,
    )
    finished, answer = await race_client(capture_ids(gw, order), request.receive)
    if not finished:  # the CLI went away (Ctrl-C): the tabs are disarmed already
        return Response(status_code=499)
    return JSONResponse(answer)


@router.post("/update-models")
async def models(request: Request, body: UpdateModelsBody) -> dict[str, Any]:
    return await update_models(_gateway(request), body.merge, body.merge_all)


@router.post("/doctor")
async def doctor(request: Request, body: DoctorBody) -> dict[str, Any]:
    """`lmarenarev doctor`: the self-check's steps (and, asked for, the redacted bundle)."""
    answer = await run_doctor(_gateway(request), body.model)
    if not body.bundle:
        answer.pop("bundle", None)
    return answer


@router.get("/status")
async def status(request: Request) -> dict[str, Any]:
    return gateway_status(_gateway(request))


@router.post("/reload")
async def reload(request: Request) -> dict[str, Any]:
    gw = _gateway(request)
    try:
        report = await reload_gateway(gw)
    except ConfigError as exc:
        reason = f"reload rejected, the old settings stay: {exc}"
        error = InvalidRequest(reason, code="invalid_config")
        gw.ops.errors.record("reload", error)
        raise error from None
    return {
        "reloaded": True,
        "changed": report.changed,
        "restart_needed": report.restart_needed,
        "warnings": report.warnings,
    }

"""Warnings about values that load but will not do what they seem to (pure, from `Settings`).

`load_config` adds them to the config's warnings, so `serve` logs them at start and a reload
logs them again. Each is one line that says why.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from .settings import Settings

_PRIVATE_SUFFIXES = (".local", ".lan", ".internal", ".home.arpa", ".localhost")


def unreachable_host(url: str) -> str:
    """Why LMArena's servers cannot fetch from `url` ("" when they may): a loopback, private,
    link-local address, or a name only a local network resolves."""
    host = (urlsplit(url).hostname or "").lower()
    if not host:
        return "it has no host"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" or host.endswith(_PRIVATE_SUFFIXES):
            return "on this machine or a local network"
        if "." not in host:
            return "a name only a local network resolves"
        return ""
    if address.is_loopback or address.is_unspecified:
        return "a loopback address"
    if address.is_private or address.is_link_local:
        return "a private-network address"
    return ""


def _file_bed_warnings(settings: Settings) -> list[str]:
    if not settings.file_bed_enabled:
        return []
    beds = [(f"file bed {bed.name!r}", bed.url) for bed in settings.file_bed_endpoints
            if bed.enabled]
    if not settings.file_bed_endpoints and settings.file_bed_upload_url:
        beds = [("file_bed_upload_url", settings.file_bed_upload_url)]
    warnings = []
    for what, url in beds:
        why = unreachable_host(url)
        if why:
            warnings.append(
                f"{what} ({url}) is {why}: LMArena's servers fetch attachments from the links "
                "it returns and cannot reach it (use a public file bed, or run `lmarenarev "
                "file-bed` on a machine LMArena can reach; fine for local tests)"
            )
    return warnings


def _bypass_warnings(settings: Settings) -> list[str]:
    warnings = []
    injection = settings.bypass_injection
    if injection.active_preset not in injection.presets and injection.active_preset != "custom":
        warnings.append(
            f"bypass_injection.active_preset {injection.active_preset!r} names no preset: the "
            "custom block is injected instead (as the mogai fork does)"
        )
    if settings.image_attachment_bypass_enabled and settings.arena_flow == "modern":
        warnings.append(
            "image_attachment_bypass_enabled has no effect in the modern flow: it sends one "
            "message per turn, so images and text cannot go in separate messages (it works "
            'with arena_flow: "legacy"; docs/conversations.md)'
        )
    return warnings


def setting_warnings(settings: Settings) -> list[str]:
    return [*_file_bed_warnings(settings), *_bypass_warnings(settings)]

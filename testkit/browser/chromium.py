"""Chromium facts the harness relies on (docs/e2e-browser.md): which binary, the flags, the
host-resolver rules that keep tests hermetic, the address-space overrides that make the fake
arena a *public* origin for Local Network Access, and finding the process Playwright started."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from urllib.parse import urlsplit

#: Flags that work on the CI machine (no sandbox, no GPU, no background traffic).
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
DEFAULT_HOSTS: tuple[str, ...] = ("lmarena.ai", "arena.ai")
#: The Playwright permission name; Playwright 1.65 maps it to the CDP permissions
#: ``localNetworkAccess``, ``localNetwork`` and ``loopbackNetwork``.
LNA_PERMISSION = "local-network-access"
#: What Chromium logs for a WebSocket stopped by the LNA check.
LNA_WS_ERROR = "ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS"
#: Environment variable overriding the Chromium executable.
CHROMIUM_ENV = "LMARENAREV_CHROMIUM"


def chromium_executable() -> str | None:
    """The Chromium to drive: ``$LMARENAREV_CHROMIUM``, else Debian's ``/usr/bin/chromium``."""
    env = os.environ.get(CHROMIUM_ENV)
    if env:
        return env if os.access(env, os.X_OK) else None
    for candidate in ("/usr/bin/chromium", "/usr/lib/chromium/chromium"):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def host_resolver_rules(hosts: Iterable[str], *, block_other_hosts: bool = True) -> str:
    """``--host-resolver-rules`` value mapping ``hosts`` (and their subdomains) to 127.0.0.1.

    With ``block_other_hosts`` every other name resolves to nothing (``~NOTFOUND``), so a page
    can never reach the real internet; ``localhost`` and IP literals are left alone.
    """
    rules: list[str] = []
    for host in hosts:
        rules += [f"MAP {host} 127.0.0.1", f"MAP *.{host} 127.0.0.1"]
    if block_other_hosts:
        rules += ["MAP * ~NOTFOUND", "EXCLUDE localhost", "EXCLUDE 127.0.0.1"]
    return ",".join(rules)


def address_space_overrides(ports: Iterable[int], space: str = "public") -> str:
    """``--ip-address-space-overrides`` value putting ``127.0.0.1:<port>`` in ``space``."""
    return ",".join(f"127.0.0.1:{int(p)}={space}" for p in ports)


def launch_args(
    hosts: Iterable[str], public_ports: Iterable[int], *, block_other_hosts: bool = True
) -> list[str]:
    """All Chromium arguments the harness launches with."""
    args = [
        *CHROMIUM_FLAGS,
        f"--host-resolver-rules={host_resolver_rules(hosts, block_other_hosts=block_other_hosts)}",
    ]
    ports = list(public_ports)
    if ports:
        args.append(f"--ip-address-space-overrides={address_space_overrides(ports)}")
    return args


def managed_browser_args(arena_port: int, spki: str) -> list[str]:
    """`browser.args` for the gateway's managed browser (`serve --browser`) on the fake arena:
    https://lmarena.ai:<arena_port> reaches the fake (no other host resolves), in the public
    address space like the real site (so Local Network Access applies), its certificate trusted
    by its key (`testkit.fakes.tls.spki_sha256`)."""
    return [
        *CHROMIUM_FLAGS,
        f"--host-resolver-rules={host_resolver_rules(DEFAULT_HOSTS)}",
        f"--ip-address-space-overrides={address_space_overrides([arena_port])}",
        f"--ignore-certificate-errors-spki-list={spki}",
    ]


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def find_process_group_leader(marker: str) -> int | None:
    """The pid of the process group leader whose command line contains ``marker``.

    Playwright starts Chromium detached, so the browser process leads its own group.
    """
    needle = marker.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            if os.getpgid(pid) == pid:
                return pid
        except OSError:
            continue
    return None


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False


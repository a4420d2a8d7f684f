"""Starting and stopping the managed browser: which executable, which switches, the process.

The browser leads a process group of its own (so a Ctrl-C in the terminal reaches the gateway,
which then closes the browser in order, and never the browser first), and talks DevTools over
two pipes (cdp.py). Stopping asks it to close (it writes its cookies), then ends the whole
group, then any process still running on the profile (docs/browser.md "Stopping").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .cdp import CdpError, CdpPipe

log = logging.getLogger(__name__)

#: Names searched on PATH, then the usual install paths, in this order: Chrome, Chromium, Edge.
EXECUTABLE_NAMES = (
    "google-chrome", "google-chrome-stable", "chromium", "chromium-browser",
    "microsoft-edge", "microsoft-edge-stable",
)
USUAL_PATHS = (
    "/opt/google/chrome/chrome",
    "/usr/lib/chromium/chromium",
    "/snap/bin/chromium",
    "/opt/microsoft/msedge/msedge",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
)
#: Keep the worker tabs running at full speed when they are not in front (docs/browser.md
#: "Background throttling"): no timer throttling of hidden pages, no lowered priority of
#: background renderers, no throttling of windows other windows cover.
THROTTLING_SWITCHES = (
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
)
#: A profile of its own, quietly: no first-run dialogs, no default-browser question, no
#: "restore pages?" bubble after a restart, no keyring prompt (a server has no keyring).
QUIET_SWITCHES = (
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-crash-restore-bubble",
    "--password-store=basic",
)
#: A DevTools pipe makes Chromium tell every page it is automated (`navigator.webdriver` is
#: true), which bot checks (reCAPTCHA, Cloudflare) read; a person's browser says false.
AS_A_PERSON_SWITCHES = ("--disable-blink-features=AutomationControlled",)
STOP_GRACE_SECONDS = 5.0
#: The browser's own output (its complaints), in the profile; the last line goes into the
#: error when it exits at once.
OUTPUT_FILE = "lmarenarev-browser.log"
#: Run by a short-lived Python that then becomes the browser (same pid): it puts the pipe ends
#: on descriptors 3 and 4, where the browser expects them. subprocess cannot place descriptors
#: at given numbers without a preexec_fn (unsafe with threads), and a shell's redirections take
#: only one-digit descriptors in dash.
_PLACE_PIPES = (
    "import fcntl, os, sys\n"
    "given = [int(fd) for fd in sys.argv[1:3]]\n"
    "high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in given]\n"
    "for fd in given: os.close(fd)\n"
    "os.dup2(high[0], 3); os.dup2(high[1], 4); os.close(high[0]); os.close(high[1])\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)


class BrowserError(RuntimeError):
    """The browser cannot be started (said in words a person can act on)."""


def find_executable(configured: str) -> str:
    """`browser.executable` when set, else the first Chrome, Chromium or Edge found."""
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise BrowserError(f"browser.executable {configured!r} is not an executable file")
        return found
    for name in EXECUTABLE_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    for path in USUAL_PATHS:
        if os.access(path, os.X_OK):
            return path
    raise BrowserError(
        "no Chrome, Chromium or Edge found; install one (Debian/Ubuntu: apt-get install "
        "chromium) or set browser.executable to its path"
    )


def browser_args(
    profile: Path, *, headless: bool, extra: Sequence[str], start_url: str = "about:blank"
) -> list[str]:
    """The command line after the executable."""
    args = [
        "--remote-debugging-pipe",
        f"--user-data-dir={profile}",
        *QUIET_SWITCHES,
        *AS_A_PERSON_SWITCHES,
        *THROTTLING_SWITCHES,
    ]
    if headless:
        args.append("--headless=new")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chrome refuses to start as root with its sandbox
    return [*args, *extra, start_url]


def last_output(profile: Path, limit: int = 300) -> str:
    """The browser's last line of output, for an error message."""
    try:
        lines = (profile / OUTPUT_FILE).read_bytes().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    meaningful = [line.strip() for line in lines if line.strip()]
    return meaningful[-1][:limit] if meaningful else ""


def display_problem(headless: bool) -> str | None:
    """Why a window cannot be shown here, if it cannot (Linux without X or Wayland)."""
    if headless or not sys.platform.startswith("linux"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "there is no display for the browser window (DISPLAY is not set): run it under Xvfb "
        "(docs/browser.md \"On a server\") or pass --headless"
    )


def profile_owner(profile: Path) -> int | None:
    """The pid of a live browser of this machine that holds `profile`, if any.

    Chrome's `SingletonLock` is a symbolic link to `<host name>-<pid>`; a lock left by a
    browser that died is stale and Chrome takes it over by itself."""
    try:
        target = os.readlink(profile / "SingletonLock")
    except OSError:
        return None
    host, _, pid_text = target.rpartition("-")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


@dataclass
class BrowserProcess:
    """A running browser and its DevTools pipe."""

    process: asyncio.subprocess.Process
    cdp: CdpPipe
    profile: Path
    _stopped: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    async def stop(self) -> None:
        """Close the browser (its cookies are written), then end what is left of it. Callers
        that come while it is being stopped wait for the same stop."""
        if self._stopped is None:
            self._stopped = asyncio.create_task(self._stop())
        await asyncio.shield(self._stopped)

    async def _stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(CdpError):
                await self.cdp.call("Browser.close", timeout=2)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_GRACE_SECONDS):
                    await self.process.wait()
        await self.cdp.aclose()
        await end_group(self.process)
        kill_profile_processes(self.profile)


async def launch(executable: str, args: Sequence[str], profile: Path) -> BrowserProcess:
    """Start the browser with its DevTools pipe on descriptors 3 and 4."""
    profile.mkdir(parents=True, exist_ok=True)
    owner = profile_owner(profile)
    if owner is not None:
        raise BrowserError(
            f"the browser profile {profile} is in use by another browser (pid {owner}): close "
            "it first (a running `lmarenarev serve --browser` or `lmarenarev login`)"
        )
    output = open(profile / OUTPUT_FILE, "wb")  # noqa: SIM115 (the browser keeps writing it)
    to_browser, commands = os.pipe()
    replies, from_browser = os.pipe()
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", "-c", _PLACE_PIPES, str(to_browser), str(from_browser),
            executable, *args,
            pass_fds=(to_browser, from_browser),
            start_new_session=True,  # its own process group, away from the terminal's Ctrl-C
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=output,
        )
    except OSError as exc:
        for fd in (to_browser, commands, replies, from_browser):
            os.close(fd)
        raise BrowserError(f"cannot start {executable}: {exc.strerror or exc}") from None
    finally:
        output.close()
    os.close(to_browser)
    os.close(from_browser)
    cdp = await CdpPipe.open(replies, commands)
    return BrowserProcess(process, cdp, profile)


async def end_group(process: asyncio.subprocess.Process) -> None:
    """SIGTERM the browser's process group, SIGKILL what lingers; reap the browser."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        deadline = time.monotonic() + 3.0
        while group_members(process.pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if not group_members(process.pid):
            break
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(1.0):
            await process.wait()


def group_members(pgid: int) -> list[int]:
    """The live processes of a process group (zombies waiting to be reaped do not count).
    Read from /proc on Linux; elsewhere the group leader, while a signal reaches the group."""
    if not os.path.isdir("/proc/self"):
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[0] != b"Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def profile_processes(profile: Path) -> list[int]:
    """Browser processes started on `profile` (Linux; empty elsewhere): what is left of a
    browser that moved a helper (a crash handler) out of its process group. Only the browser's
    own switches count, so no other program that merely names the directory is touched."""
    switches = (f"--user-data-dir={profile}".encode(), f"--database={profile}/".encode())
    found: list[int] = []
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    args = f.read().split(b"\0")
            except OSError:
                continue
            if any(arg == switches[0] or arg.startswith(switches[1]) for arg in args):
                found.append(int(entry))
    return found


def kill_profile_processes(profile: Path) -> None:
    for pid in profile_processes(profile):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            log.info("ended browser process %d left over on %s", pid, profile)

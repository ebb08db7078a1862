"""Debian's Chromium, headless, as the HTML report's tests drive it: load a page (with a URL
fragment), let its script run, and return the DOM it left and everything it wrote to the
console. Started with the flags this machine's closed network needs and a fresh profile."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
# Chromium logs every console message (and every uncaught error, and every CSP violation)
# as INFO:CONSOLE when logging to stderr.
_CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]? (.*)")


@dataclass(frozen=True)
class Rendered:
    dom: str
    console: list[str]


def chromium() -> str:
    found = shutil.which("chromium")
    assert found, "Chromium is missing: run `make chromium` (make test does)"
    return found


def _run(extra: list[str], url: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="iamwatch-chromium-") as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr",
             "--v=0", "--virtual-time-budget=5000", *extra, url],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip


def render(page: Path, fragment: str = "") -> Rendered:
    result = _run(["--dump-dom"], page.resolve().as_uri() + fragment)
    assert result.returncode == 0, result.stderr[-2000:]
    console = [
        match.group(1) for match in map(_CONSOLE.search, result.stderr.splitlines()) if match
    ]
    return Rendered(result.stdout, console)


def screenshot(page: Path, target: Path, size: str = "1280,2400") -> Path:
    result = _run([f"--screenshot={target}", f"--window-size={size}", "--hide-scrollbars"],
                  page.resolve().as_uri())  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return target

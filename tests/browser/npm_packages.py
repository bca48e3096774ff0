"""The npm packages that the browser tests load into pages, kept in a cache folder outside the repo.

The official JS-SDK comes from ``weixin-js-sdk`` and the accessibility checker from
``axe-core``. Both are installed once with ``npm install --prefix <cache>``; the cache is
``$WXCARD_NPM_CACHE``, else ``$XDG_CACHE_HOME/wxcard-h5/npm``, else ``~/.cache/wxcard-h5/npm``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

logger = logging.getLogger(__name__)

JSSDK_PACKAGE = "weixin-js-sdk"
JSSDK_VERSION = "1.6.5"
AXE_PACKAGE = "axe-core"
AXE_VERSION_RANGE = "4"
NPM_TIMEOUT = 300


class NpmUnavailable(RuntimeError):
    """npm is missing or the install failed; the message explains how to fix it."""


def cache_dir() -> Path:
    if os.environ.get("WXCARD_NPM_CACHE"):
        return Path(os.environ["WXCARD_NPM_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "wxcard-h5" / "npm"


def _installed_version(cache: Path, package: str) -> str | None:
    manifest = cache / "node_modules" / package / "package.json"
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text(encoding="utf-8")).get("version")


def _is_complete(cache: Path) -> bool:
    axe_version = _installed_version(cache, AXE_PACKAGE) or ""
    return _installed_version(cache, JSSDK_PACKAGE) == JSSDK_VERSION and axe_version.startswith(AXE_VERSION_RANGE + ".")


def ensure_installed() -> Path:
    """Install the packages into the cache unless they are there already, and return the cache folder."""
    cache = cache_dir()
    if _is_complete(cache):
        return cache

    npm = shutil.which("npm")
    if npm is None:
        raise NpmUnavailable("npm not found; install it with `apt-get install npm`")
    cache.mkdir(parents=True, exist_ok=True)
    command = [
        npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund", "--no-save",
        f"{JSSDK_PACKAGE}@{JSSDK_VERSION}", f"{AXE_PACKAGE}@{AXE_VERSION_RANGE}",
    ]
    logger.info("installing npm packages into %s", cache)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=NPM_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise NpmUnavailable(f"`{' '.join(command)}` timed out after {NPM_TIMEOUT} s; check access to the npm registry") from None
    if result.returncode != 0 or not _is_complete(cache):
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise NpmUnavailable(f"`{' '.join(command)}` failed with exit code {result.returncode}: {' | '.join(tail)}")
    return cache


def jssdk_source(cache: Path) -> str:
    """Return the JS-SDK file of ``weixin-js-sdk`` unchanged.

    It is a CommonJS module: it assigns ``module.exports`` and never sets ``window.wx``,
    so a page that serves it must give it a ``module`` object to fill.
    """
    return (cache / "node_modules" / JSSDK_PACKAGE / "index.js").read_text(encoding="utf-8")


def axe_script(cache: Path) -> str:
    return (cache / "node_modules" / AXE_PACKAGE / "axe.min.js").read_text(encoding="utf-8")

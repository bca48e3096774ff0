"""Write a PNG of every page state to ``docs/screenshots/`` by running the browser tests.

Usage, from the repository root::

    python -m tests.browser.screenshots

The pictures are what the browser tests saw: each test saves its page states at a
390x844 phone viewport while ``WXCARD_SCREENSHOTS=1``. Old PNGs are removed first, so the
folder holds only states that the current tests reach.
"""

from __future__ import annotations

import os
import sys

import pytest

from tests.browser.browser_support import ROOT, SCREENSHOT_DIR


def main(argv: list[str] | None = None) -> int:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOT_DIR.glob("*.png"):
        old.unlink()

    os.environ["WXCARD_SCREENSHOTS"] = "1"
    # Missing Chromium must fail here: skipping would leave the folder empty.
    os.environ["WXCARD_TEST_BROWSER"] = "1"
    os.chdir(ROOT)
    exit_code = pytest.main(["-q", "-m", "browser", "tests/browser", *(argv or [])])

    written = sorted(path.name for path in SCREENSHOT_DIR.glob("*.png"))
    print(f"{len(written)} screenshots in {SCREENSHOT_DIR}: {', '.join(written)}")
    return int(exit_code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

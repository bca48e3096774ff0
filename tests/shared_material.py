"""Loaders for the test vectors and the bug-report cases kept in ``tests/data``.

``signatures.json`` and ``secure_mode.json`` contain official and derived signing vectors;
``public-bug-kinds.json`` contains small inputs from public bug reports with their right
values. They are copies, so a clone of this repository is enough to run the tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"


def load_json(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def vectors(name: str) -> Any:
    return load_json(f"{name}.json")


def cases(kind: str) -> list[dict[str, Any]]:
    """Return the bug-report cases of one ``kind`` (jssdk-url, card-ext, user-agent, ...)."""
    return [case for case in load_json("public-bug-kinds.json")["cases"] if case["kind"] == kind]

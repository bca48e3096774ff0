"""Page language: Simplified Chinese first, English when the Weixin client says so.

Weixin puts the client's language in its user agent as ``Language/zh_CN``,
``Language/en`` (or ``Language/en_US``) and so on.
"""

from __future__ import annotations

import re
from typing import Mapping

_LANGUAGE = re.compile(r"Language/([A-Za-z]+)")

ZH = "zh-CN"
EN = "en"


def page_language(user_agent: str) -> str:
    """Return ``en`` when the user agent carries ``Language/en…``, else ``zh-CN``."""
    match = _LANGUAGE.search(user_agent or "")
    if match and match.group(1).lower().startswith("en"):
        return EN
    return ZH


def translate(messages: Mapping[str, Mapping[str, str]], language: str) -> dict[str, str]:
    """Return the messages of ``language`` from a ``{key: {"zh-CN": ..., "en": ...}}`` table.

    Every key must exist in both languages. A missing one raises ``KeyError`` at once,
    so a test that renders each page in both languages finds it.
    """
    return {key: texts[language] for key, texts in messages.items()}

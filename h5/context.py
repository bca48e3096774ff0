"""The objects every request handler of the backend shares: settings, store, client, campaigns."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from h5.campaigns import Campaign
from h5.client import WeixinClient
from h5.config import Settings
from h5.store import Store
from h5.weixin_types import CardInfo

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = ROOT / "static"

# How long the landing page reuses a card/get response before calling Weixin again.
CARD_INFO_TTL = 600.0


def make_templates() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html"]))


@dataclass
class AppContext:
    """The shared objects of one backend process, kept on ``app.state.ctx``."""

    settings: Settings
    store: Store
    client: WeixinClient
    campaigns: dict[str, Campaign]
    templates: Environment = field(default_factory=make_templates)
    _cards: dict[str, tuple[float, CardInfo]] = field(default_factory=dict)

    async def card_info(self, card_id: str, max_age: float = CARD_INFO_TTL) -> CardInfo:
        """Return ``card/get`` for ``card_id``, reusing a response younger than ``max_age`` seconds."""
        cached = self._cards.get(card_id)
        if cached is not None and time.monotonic() - cached[0] < max_age:
            return cached[1]
        info = await self.client.get_card(card_id)
        self._cards[card_id] = (time.monotonic(), info)
        return info

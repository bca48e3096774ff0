"""The campaign file: which card_ids a landing page offers, and where hand-overs go.

```toml
[campaigns.hotpot]
cards = ["pXXXX"]              # one or more card_ids, offered in this order
redirect_to = "https://..."    # the merchant page used by the redirect handler
```
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# /cards/redirect is the custom-entry handler, so a campaign of that name could never be opened.
_RESERVED_NAMES = {"redirect"}
_KEYS = {"cards", "redirect_to"}
_CARD_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


class CampaignFileError(ValueError):
    """The campaign file is missing or invalid; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class Campaign:
    name: str
    cards: tuple[str, ...]
    redirect_to: str | None


def load_campaigns(path: Path) -> dict[str, Campaign]:
    """Read and check the campaign file at ``path``, keeping the file's order."""
    if not path.is_file():
        raise CampaignFileError(f"{path}: file not found; create it with a [campaigns.NAME] table listing cards")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CampaignFileError(f"{path}: not valid TOML: {exc}") from None

    tables = data.get("campaigns")
    if not isinstance(tables, dict) or not tables:
        raise CampaignFileError(f"{path}: no [campaigns.NAME] table; add one with cards = [\"pXXXX\"]")
    return {name: _campaign(path, name, table) for name, table in tables.items()}


def _campaign(path: Path, name: str, table: object) -> Campaign:
    where = f"{path}: campaigns.{name}"
    if not _NAME.fullmatch(name):
        raise CampaignFileError(f"{where}: the name may use only letters, digits, '_' and '-' (at most 64)")
    if name in _RESERVED_NAMES:
        raise CampaignFileError(f"{where}: the name {name!r} is reserved for /cards/{name}; choose another name")
    if not isinstance(table, dict):
        raise CampaignFileError(f"{where}: must be a table")

    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise CampaignFileError(f"{where}: unknown key {unknown[0]!r}; the keys are cards and redirect_to")

    cards = table.get("cards")
    if cards is None or cards == []:
        raise CampaignFileError(f"{where}.cards: missing; list one or more card_ids")
    if not isinstance(cards, list):
        raise CampaignFileError(f"{where}.cards: must be a list such as [\"pXXXX\"], not {cards!r}")
    for card_id in cards:
        if not isinstance(card_id, str) or not _CARD_ID.fullmatch(card_id):
            raise CampaignFileError(f"{where}.cards: {card_id!r} is not a card_id")

    redirect_to = table.get("redirect_to")
    if redirect_to is not None:
        parts = urlsplit(str(redirect_to))
        # Plain http is accepted only for a merchant page on this machine, for development.
        loopback = parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
        if not (parts.scheme == "https" or loopback) or not parts.netloc:
            raise CampaignFileError(f"{where}.redirect_to: {redirect_to!r} must be an https URL")
    return Campaign(name=name, cards=tuple(cards), redirect_to=redirect_to)


def campaign_for_card(campaigns: dict[str, Campaign], card_id: str, requested: str | None = None) -> Campaign | None:
    """Return the campaign named ``requested`` if it lists ``card_id``, else the first that does."""
    if requested and requested in campaigns and card_id in campaigns[requested].cards:
        return campaigns[requested]
    for campaign in campaigns.values():
        if card_id in campaign.cards:
            return campaign
    return None

"""Settings, campaign file and store for the commands that run or check the backend.

``wxcard serve`` and ``wxcard campaigns`` stop with one line naming the setting and what
to do, and exit code 2, when any of them is missing or invalid. ``SetupError`` carries
that line.
"""

from __future__ import annotations

import sqlite3

from h5.app import build_context
from h5.campaigns import CampaignFileError
from h5.config import SettingError, Settings
from h5.context import AppContext
from h5.store import StoreURLError


class SetupError(Exception):
    """A setting, the campaign file or the store is unusable; the message is one line for stderr."""


def load_settings(serving: bool) -> Settings:
    """Read the settings from the environment and ``.env``; with ``serving``, also check the server's own."""
    try:
        settings = Settings.from_env()
        if serving:
            settings.require_serving()
    except SettingError as exc:
        raise SetupError(f"invalid setting {exc}") from None
    return settings


async def close_context(ctx: AppContext) -> None:
    """Close the client and store of a context that no app took over."""
    await ctx.client.aclose()
    await ctx.store.close()


def open_context(settings: Settings) -> AppContext:
    """Open the store and client and read the campaign file named by the settings."""
    try:
        return build_context(settings)
    except CampaignFileError as exc:
        raise SetupError(f"invalid setting WXCARD_CAMPAIGNS: {exc}") from None
    except StoreURLError as exc:
        raise SetupError(f"invalid setting {exc}") from None
    except (OSError, sqlite3.Error) as exc:
        raise SetupError(
            f"invalid setting WXCARD_STORE={settings.store_url!r}: cannot open it ({exc}); "
            "point it at a writable file such as sqlite:///var/wxcard.sqlite3"
        ) from None

"""Settings, campaign file and store for the commands that run or check the backend.

``wxcard serve`` and ``wxcard campaigns`` stop with one line naming the setting and what
to do, and exit code 2, when any of them is missing or invalid. ``SetupError`` carries
that line.
"""

from __future__ import annotations

from h5.app import build_context
from h5.campaigns import CampaignFileError
from h5.cli.runtime import STORE_OPEN_ERRORS, store_open_problem
from h5.config import SettingError, Settings
from h5.context import AppContext
from h5.store import StoreURLError, open_store


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
        store = open_store(settings.store_url)
    except StoreURLError as exc:
        raise SetupError(f"invalid setting {exc}") from None
    except STORE_OPEN_ERRORS as exc:
        raise SetupError(f"invalid setting {store_open_problem(exc)}") from None

    try:
        return build_context(settings, store)
    except CampaignFileError as exc:
        raise SetupError(f"invalid setting WXCARD_CAMPAIGNS: {exc}") from None

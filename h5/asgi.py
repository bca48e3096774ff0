"""The backend as an ASGI factory for uvicorn workers.

``wxcard serve --workers N`` runs ``uvicorn --factory h5.asgi:create_app_from_env``, so
every worker process builds its own app (store connection, HTTP client) from the
environment and ``.env`` instead of inheriting one from the parent.
"""

from __future__ import annotations

import logging
import os

from starlette.applications import Starlette

from h5.app import create_app
from h5.config import Settings

LOG_LEVEL_ENV = "WXCARD_LOG_LEVEL"


def create_app_from_env() -> Starlette:
    """Build the backend from the environment; raises ``SettingError`` on a missing setting."""
    # A worker started by uvicorn's multiprocessing has no logging configuration of its own.
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=getattr(logging, os.environ.get(LOG_LEVEL_ENV, "INFO").upper(), logging.INFO),
            format="%(asctime)s %(process)d %(levelname)s %(name)s %(message)s",
        )
    settings = Settings.from_env()
    settings.require_serving()
    return create_app(settings)

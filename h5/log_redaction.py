"""Keep credentials in request URLs out of the ``httpx`` request log.

httpx logs every request at INFO as ``HTTP Request: GET <url> ...``, with the full query
string. Weixin takes the access_token, and for ``cgi-bin/token`` the appsecret, as query
parameters, so the filter replaces every query value in that line with ``***``.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx

REDACTED = "***"


def redact_url(url: str) -> str:
    """Return ``url`` with each query value replaced by ``***``, keeping the parameter names."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    names = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
    query = "&".join(f"{name}={REDACTED}" for name in names)
    return urlunsplit(parts._replace(query=query))


class QueryRedactionFilter(logging.Filter):
    """Rewrites URL arguments of log records so that no query value is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(str(arg)) if isinstance(arg, httpx.URL) or (isinstance(arg, str) and "?" in arg) else arg
                for arg in record.args
            )
        return True


def install_httpx_redaction() -> None:
    """Attach the filter to the ``httpx`` logger once per process."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(existing, QueryRedactionFilter) for existing in logger.filters):
        logger.addFilter(QueryRedactionFilter())

"""Keep credentials in request URLs out of the ``httpx`` and ``uvicorn.access`` logs.

httpx logs every request at INFO as ``HTTP Request: GET <url> ...``, with the full query
string. Weixin takes the access_token, and for ``cgi-bin/token`` the appsecret, as query
parameters. uvicorn's access log writes the path and query of every request we serve,
and the custom-entry redirect receives the encrypt_code there. The filter replaces every
query value in those lines with ``***``.
"""

from __future__ import annotations

import logging
import httpx

REDACTED = "***"


def redact_url(url: str) -> str:
    """Return ``url`` with each query value replaced by ``***``, keeping the raw parameter names.

    A filter that raises would break the logging call, and urlsplit raises on request targets
    such as ``//[x?a=1``, so the query is cut out by plain string splitting.
    A parameter without ``=`` is all value, so it becomes ``***`` as a whole.
    """
    base, question_mark, rest = url.partition("?")
    if not question_mark:
        return url

    query, hash_mark, fragment = rest.partition("#")
    pairs = []
    for pair in query.split("&"):
        if not pair:
            continue
        name, equals, _ = pair.partition("=")
        pairs.append(f"{name}={REDACTED}" if equals else REDACTED)
    return f"{base}?{'&'.join(pairs)}{hash_mark}{fragment}"


class QueryRedactionFilter(logging.Filter):
    """Rewrites URL arguments of log records so that no query value is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(str(arg)) if isinstance(arg, httpx.URL) or (isinstance(arg, str) and "?" in arg) else arg
                for arg in record.args
            )
        return True


REDACTED_LOGGERS = ("httpx", "uvicorn.access")


def install_log_redaction() -> None:
    """Attach the filter to the ``httpx`` and ``uvicorn.access`` loggers once per process."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, QueryRedactionFilter) for existing in logger.filters):
            logger.addFilter(QueryRedactionFilter())

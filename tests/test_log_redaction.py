"""The httpx request log with query values redacted."""

from __future__ import annotations

import logging

import httpx
import pytest

from h5.log_redaction import QueryRedactionFilter, install_log_redaction, redact_url


def test_redact_url_hides_values() -> None:
    url = "https://api.weixin.qq.com/cgi-bin/token?grant_type=client_credential&appid=wx1&secret=S3CRET"
    assert redact_url(url) == "https://api.weixin.qq.com/cgi-bin/token?grant_type=***&appid=***&secret=***"
    assert redact_url("https://api.weixin.qq.com/card/get") == "https://api.weixin.qq.com/card/get"


def test_redact_url_odd_targets() -> None:
    # urlsplit raises "Invalid IPv6 URL" on the first target, which a client can send as its path.
    assert redact_url("//[evil?encrypt_code=SECRET") == "//[evil?encrypt_code=***"
    assert redact_url("/cards/redirect?SECRET&card_id=pCARD") == "/cards/redirect?***&card_id=***"
    assert redact_url("/a?encrypt%5Fcode=SECRET&&b=c%3D#top") == "/a?encrypt%5Fcode=***&b=***#top"


def test_httpx_log_line_redacted(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    install_log_redaction()
    caplog.set_level(logging.DEBUG, logger="httpx")
    url = httpx.URL("https://api.weixin.qq.com/card/code/get?access_token=T0KEN-VALUE")
    logging.getLogger("httpx").info('HTTP Request: %s %s "%s %d %s"', "POST", url, "HTTP/1.1", 200, "OK")

    messages = [record.getMessage() for record in caplog.records]
    assert messages == ['HTTP Request: POST https://api.weixin.qq.com/card/code/get?access_token=*** "HTTP/1.1 200 OK"']
    filters = [item for item in logging.getLogger("httpx").filters if isinstance(item, QueryRedactionFilter)]
    assert len(filters) == 1


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_uvicorn_access_line_redacted() -> None:
    install_log_redaction()
    access_logger = logging.getLogger("uvicorn.access")
    handler = ListHandler()

    # uvicorn's log configuration may stop access records from reaching the root logger,
    # so the records are collected on the access logger itself.
    access_logger.addHandler(handler)
    level = access_logger.level
    access_logger.setLevel(logging.INFO)
    try:
        path = "/cards/redirect?encrypt_code=QUJD%2BRA%3D%3D&card_id=pCARD&openid=oUSER"
        access_logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 303)
        access_logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "//[x?encrypt_code=QUJD", "1.1", 404)
    finally:
        access_logger.removeHandler(handler)
        access_logger.setLevel(level)

    assert handler.messages == [
        '127.0.0.1:5000 - "GET /cards/redirect?encrypt_code=***&card_id=***&openid=*** HTTP/1.1" 303',
        '127.0.0.1:5000 - "GET //[x?encrypt_code=*** HTTP/1.1" 404',
    ]

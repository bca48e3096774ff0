"""The client turns a success response with missing or mistyped fields into WeixinTransportError."""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from h5.client import WeixinClient
from h5.errors import WeixinTransportError
from h5.serving import ThreadedServer
from h5.store import open_store

GOOD_TOKEN = {"access_token": "malformed-test-token", "expires_in": 7200}

# Each case: the response of one path, and the client call that reads it.
CASES = {
    "token without expires_in": ("cgi-bin/token", {"access_token": "x"}, lambda c: c.access_token()),
    "errcode not a number": ("card/get", {"errcode": "busy"}, lambda c: c.get_card("pCard")),
    "card not an object": ("card/code/consume", {"errcode": 0, "card": "pCard"}, lambda c: c.consume_code("123456789012")),
    "succ_code not a list": ("card/code/deposit", {"errcode": 0, "succ_code": "all"}, lambda c: c.deposit_codes("pCard", ["1"])),
    "count not a number": ("card/code/getdepositcount", {"errcode": 0, "count": "many"}, lambda c: c.get_deposit_count("pCard")),
    "card_id missing": ("card/create", {"errcode": 0, "errmsg": "ok"}, lambda c: c.create_card({})),
}


def fake_weixin(path: str, response: dict) -> Starlette:
    """A loopback server that returns a good token and ``response`` for ``path``."""

    async def endpoint(request: Request) -> JSONResponse:
        requested = request.url.path.lstrip("/")
        if requested == path:
            return JSONResponse(response)
        if requested == "cgi-bin/token":
            return JSONResponse(GOOD_TOKEN)
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])])


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_response_is_transport_error(tmp_path, case):
    path, response, call = CASES[case]

    async def run(base_url: str) -> WeixinTransportError:
        store = open_store(f"sqlite:///{tmp_path / 'client.sqlite3'}")
        client = WeixinClient("wx5a0d5a0d5a0d5a0d", "secret-malformed-test", store, base_url)
        try:
            with pytest.raises(WeixinTransportError) as raised:
                await call(client)
            return raised.value
        finally:
            await client.aclose()
            await store.close()

    with ThreadedServer(fake_weixin(path, response), name="fake-weixin") as server:
        error = asyncio.run(run(server.base_url))
    assert error.path == path
    assert "malformed response" in error.cause
    assert "malformed-test-token" not in str(error)

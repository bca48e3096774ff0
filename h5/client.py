"""The Weixin API client, on ``httpx.AsyncClient``.

Every call sends JSON as UTF-8 without ``\\uXXXX`` escapes, carries the access_token
only as a query parameter, and maps a non-zero errcode to a typed exception from
``h5.errors``. On 40001, 40014 or 42001 it refreshes the token once, and only if the
cached token is still the one that failed. Then it retries the call once, never more.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any, Iterator
from urllib.parse import urlsplit

import httpx

from h5.credentials import ACCESS_TOKEN, JSAPI_TICKET, WX_CARD_TICKET, CredentialCache
from h5.errors import TokenInvalidError, WeixinTransportError, error_for
from h5.log_redaction import install_log_redaction
from h5.store import Store
from h5.weixin_types import CardInfo, CodeInfo, ConsumeResult, Credential, DepositResult, QRCodeResult

logger = logging.getLogger(__name__)
install_log_redaction()

DEFAULT_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
_TICKET_TYPES = {JSAPI_TICKET: "jsapi", WX_CARD_TICKET: "wx_card"}


def _text_list(value: Any) -> list[str]:
    """Return a JSON list of strings as a list, raising TypeError for anything else."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError("expected a list of strings")
    return list(value)


def json_body(payload: Any) -> bytes:
    """Serialise ``payload`` as Weixin wants it: UTF-8, Chinese as characters, not escapes."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class WeixinClient:
    """Calls the Weixin server APIs for one appid, with the credential cache in ``store``."""

    def __init__(
        self,
        appid: str,
        appsecret: str,
        store: Store,
        api_base: str = "https://api.weixin.qq.com",
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.appid = appid
        self._appsecret = appsecret
        self.api_base = api_base.rstrip("/")
        self.host = urlsplit(self.api_base).netloc
        self.credentials = CredentialCache(store, appid, appsecret)
        self._http = http or httpx.AsyncClient(timeout=timeout, trust_env=False)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "WeixinClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- transport ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _reading(self, path: str) -> Iterator[None]:
        """Turn a success response with a missing or mistyped field into ``WeixinTransportError``.

        Only the exception type is kept, because its text could quote a field's value.
        """
        try:
            yield
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            logger.warning("weixin %s returned a malformed response (%s) appid=%s", path, type(exc).__name__, self.appid)
            raise WeixinTransportError(path, self.host, f"malformed response ({type(exc).__name__})") from None

    async def _send(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        body: Any = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> dict[str, Any]:
        """Send one request and return the decoded JSON, raising on errcode or transport failure."""
        url = f"{self.api_base}/{path}"
        headers = {}
        content = None
        if body is not None:
            content = json_body(body)
            headers["Content-Type"] = "application/json; charset=utf-8"

        try:
            response = await self._http.request(method, url, params=params, content=content, files=files, headers=headers)
        except httpx.TimeoutException as exc:
            raise WeixinTransportError(path, self.host, f"timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise WeixinTransportError(path, self.host, f"{type(exc).__name__}: {exc}") from None

        if response.status_code != 200:
            raise WeixinTransportError(path, self.host, f"HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise WeixinTransportError(path, self.host, "the response is not JSON") from None
        if not isinstance(data, dict):
            raise WeixinTransportError(path, self.host, "the response is not a JSON object")

        with self._reading(path):
            errcode = int(data.get("errcode", 0) or 0)
        if errcode != 0:
            errmsg = str(data.get("errmsg", ""))
            logger.warning("weixin %s returned errcode=%d appid=%s", path, errcode, self.appid)
            raise error_for(errcode, errmsg, path)
        return data

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> dict[str, Any]:
        """Call an API that takes an access_token, refreshing it once if Weixin rejects it."""
        token = await self.access_token()
        try:
            return await self._send(method, path, {**(params or {}), "access_token": token.value}, body, files)
        except TokenInvalidError as exc:
            await self.credentials.invalidate(ACCESS_TOKEN, token.value)
            logger.info("retrying %s once with a fresh access_token after errcode=%d", path, exc.errcode)
            token = await self.access_token()
            return await self._send(method, path, {**(params or {}), "access_token": token.value}, body, files)

    # -- credentials -------------------------------------------------------------------

    async def fetch_access_token(self) -> tuple[str, int]:
        """Fetch a new access_token from ``cgi-bin/token``; use ``access_token()`` for the cached one."""
        params = {"grant_type": "client_credential", "appid": self.appid, "secret": self._appsecret}
        data = await self._send("GET", "cgi-bin/token", params=params)
        with self._reading("cgi-bin/token"):
            return str(data["access_token"]), int(data["expires_in"])

    async def access_token(self) -> Credential:
        return await self.credentials.get(ACCESS_TOKEN, self.fetch_access_token)

    async def _ticket(self, kind: str) -> Credential:
        async def fetch() -> tuple[str, int]:
            data = await self.call("GET", "cgi-bin/ticket/getticket", params={"type": _TICKET_TYPES[kind]})
            with self._reading("cgi-bin/ticket/getticket"):
                return str(data["ticket"]), int(data["expires_in"])

        return await self.credentials.get(kind, fetch)

    async def jsapi_ticket(self) -> Credential:
        """Return the cached jsapi_ticket that signs ``wx.config``."""
        return await self._ticket(JSAPI_TICKET)

    async def wx_card_ticket(self) -> Credential:
        """Return the cached wx_card api_ticket that signs card_ext and cardSign."""
        return await self._ticket(WX_CARD_TICKET)

    # -- cards -------------------------------------------------------------------------

    async def upload_image(self, filename: str, content: bytes, content_type: str) -> str:
        """Upload a logo or card image (JPG or PNG, at most 1 MB) and return its Weixin URL."""
        data = await self.call("POST", "cgi-bin/media/uploadimg", files={"buffer": (filename, content, content_type)})
        with self._reading("cgi-bin/media/uploadimg"):
            return str(data["url"])

    async def create_card(self, card: dict[str, Any]) -> str:
        """Create a card from the ``card`` object of ``card/create`` and return its card_id."""
        data = await self.call("POST", "card/create", {"card": card})
        with self._reading("card/create"):
            return str(data["card_id"])

    async def get_card(self, card_id: str) -> CardInfo:
        data = await self.call("POST", "card/get", {"card_id": card_id})
        with self._reading("card/get"):
            return CardInfo.from_response(card_id, data)

    async def create_qrcode(self, body: dict[str, Any]) -> QRCodeResult:
        """Create a QR code from a full ``card/qrcode/create`` body (QR_CARD or QR_MULTIPLE_CARD)."""
        data = await self.call("POST", "card/qrcode/create", body)
        with self._reading("card/qrcode/create"):
            return self._qrcode_result(data)

    @staticmethod
    def _qrcode_result(data: dict[str, Any]) -> QRCodeResult:
        return QRCodeResult(
            ticket=str(data.get("ticket", "")),
            url=str(data.get("url", "")),
            show_qrcode_url=str(data.get("show_qrcode_url", "")),
            expire_seconds=data.get("expire_seconds"),
            raw=data,
        )

    async def set_test_whitelist(self, openids: list[str], usernames: list[str]) -> dict[str, Any]:
        """Replace the test whitelist; Weixin keeps only what this call sends."""
        return await self.call("POST", "card/testwhitelist/set", {"openid": openids, "username": usernames})

    # -- codes -------------------------------------------------------------------------

    async def decrypt_code(self, encrypt_code: str) -> str:
        """Return the real code behind an encrypt_code, posted exactly as given."""
        data = await self.call("POST", "card/code/decrypt", {"encrypt_code": encrypt_code})
        with self._reading("card/code/decrypt"):
            return str(data.get("code", ""))

    async def get_code(self, code: str, card_id: str | None = None, check_consume: bool = False) -> CodeInfo:
        body: dict[str, Any] = {"code": code, "check_consume": check_consume}
        if card_id:
            body["card_id"] = card_id
        data = await self.call("POST", "card/code/get", body)
        with self._reading("card/code/get"):
            return CodeInfo.from_response(data)

    async def consume_code(self, code: str, card_id: str | None = None) -> ConsumeResult:
        body: dict[str, Any] = {"code": code}
        if card_id:
            body["card_id"] = card_id
        data = await self.call("POST", "card/code/consume", body)
        with self._reading("card/code/consume"):
            card = data.get("card", {})
            return ConsumeResult(card_id=str(card.get("card_id", "")), openid=str(data.get("openid", "")), raw=data)

    async def deposit_codes(self, card_id: str, codes: list[str]) -> DepositResult:
        """Import up to 100 custom codes into a GET_CUSTOM_CODE_MODE_DEPOSIT card."""
        data = await self.call("POST", "card/code/deposit", {"card_id": card_id, "code": codes})
        with self._reading("card/code/deposit"):
            return DepositResult(
                succ_code=_text_list(data.get("succ_code", [])),
                duplicate_code=_text_list(data.get("duplicate_code", [])),
                fail_code=_text_list(data.get("fail_code", [])),
                raw=data,
            )

    async def get_deposit_count(self, card_id: str) -> int:
        data = await self.call("POST", "card/code/getdepositcount", {"card_id": card_id})
        with self._reading("card/code/getdepositcount"):
            return int(data.get("count", 0))

    async def check_codes(self, card_id: str, codes: list[str]) -> dict[str, list[str]]:
        data = await self.call("POST", "card/code/checkcode", {"card_id": card_id, "code": codes})
        with self._reading("card/code/checkcode"):
            return {"exist_code": _text_list(data.get("exist_code", [])), "not_exist_code": _text_list(data.get("not_exist_code", []))}

    async def modify_stock(self, card_id: str, increase: int = 0, reduce: int = 0) -> None:
        body: dict[str, Any] = {"card_id": card_id}
        if increase:
            body["increase_stock_value"] = increase
        if reduce:
            body["reduce_stock_value"] = reduce
        await self.call("POST", "card/modifystock", body)

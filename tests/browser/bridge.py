"""The Python half of the WeixinJSBridge test double: it forwards bridge calls to the sandbox.

``bridge_double.js`` runs in the page before any page script and sends every
``WeixinJSBridge.invoke`` to the binding that ``ClientSimulator.install`` exposes. The
binding calls the sandbox's client simulator over HTTP and returns the reply in the shape
the official JS-SDK expects from the Weixin client.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import BrowserContext

logger = logging.getLogger(__name__)

BINDING_NAME = "__wxcardBridgeInvoke"
DOUBLE_SCRIPT = Path(__file__).with_name("bridge_double.js")


@dataclass
class BridgeCall:
    """One call that a page made to WeixinJSBridge, with the URL the double checked and the reply."""

    name: str
    params: dict[str, Any]
    url: str
    reply: dict[str, Any]


@dataclass
class ClientSimulator:
    """The Weixin client as the page sees it: wx.config checks, and a user who adds or cancels.

    ``add_card_choice`` is what the user taps in Weixin's add-card sheet: ``"add"`` or ``"cancel"``.
    """

    sandbox_base: str
    openid: str = "o_browser_user"
    add_card_choice: str = "add"
    calls: list[BridgeCall] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)

    def install(self, context: BrowserContext) -> None:
        """Expose the binding and add the double to every page of ``context``, before page scripts run."""
        context.expose_binding(BINDING_NAME, self._invoke)
        context.add_init_script(path=str(DOUBLE_SCRIPT))

    def calls_named(self, name: str) -> list[BridgeCall]:
        return [call for call in self.calls if call.name == name]

    def _invoke(self, source: dict, name: str, params: dict[str, Any], page_context: dict[str, Any]) -> dict[str, Any]:
        if name == "rejected":
            # The double rejected a call made before wx.config passed; record it for the tests.
            self.calls.append(BridgeCall(params["name"], {}, page_context["url"], params["reply"]))
            return {}
        if name == "preVerifyJSAPI":
            reply = self._pre_verify(params, page_context["url"])
        elif name == "batchAddCard":
            reply = self._batch_add_card(params)
        else:
            reply = {"err_msg": f"{name}:fail_function not exist"}
        self.calls.append(BridgeCall(name, params, page_context["url"], reply))
        logger.info("bridge call %s url=%s reply=%s", name, page_context["url"], reply.get("err_msg"))
        return reply

    def _pre_verify(self, params: dict[str, Any], url: str) -> dict[str, Any]:
        # The JS-SDK sends no URL to the bridge, so the double sends the URL the client would check.
        body = {
            "appid": params.get("verifyAppId") or params.get("appId") or "",
            "url": url,
            "timestamp": params.get("verifyTimestamp", ""),
            "nonceStr": params.get("verifyNonceStr", ""),
            "signature": params.get("verifySignature", ""),
        }
        response = httpx.post(f"{self.sandbox_base}/sandbox/client/pre-verify", json=body, timeout=10)
        response.raise_for_status()
        return {"err_msg": response.json()["err_msg"]}

    def _batch_add_card(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.add_card_choice == "cancel":
            return {"err_msg": "batch_add_card:cancel"}

        # The bridge's card_list is the add-card body's card_list: [{card_id, card_ext}, ...].
        body = {"appid": params.get("appId", ""), "openid": self.openid, "card_list": params.get("card_list", [])}
        response = httpx.post(f"{self.sandbox_base}/sandbox/client/add-card", json=body, timeout=10)
        if response.status_code != 200:
            logger.info("sandbox rejected add-card: HTTP %d %s", response.status_code, response.text[:300])
            self.rejections.append(response.json() if response.headers.get("content-type", "").startswith("application/json") else {})
            return {"err_msg": "batch_add_card:fail"}

        # The client sends card_list as a JSON string, which the JS-SDK parses with JSON.parse.
        return {"err_msg": "batch_add_card:ok", "card_list": json.dumps(response.json()["card_list"], ensure_ascii=False)}

    def added_cards(self) -> list[dict[str, Any]]:
        """Return the cards that batchAddCard replies reported as added, with their encrypted codes."""
        added = []
        for call in self.calls_named("batchAddCard"):
            if call.reply.get("err_msg") == "batch_add_card:ok":
                added.extend(item for item in json.loads(call.reply["card_list"]) if item.get("is_succ") == 1)
        return added

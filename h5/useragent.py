"""Client classes of the landing page, from the User-Agent header.

Weixin-family clients are distinguished by substring tests and one small regular
expression for the version, because on Android nearly every user agent is new (device
model and build differ) and ``user_agents.parse`` costs about 1 ms per uncached string
(benchmarks/run.py on a 2-core server). ``user_agents`` is consulted only for the
plain-browser class, to tell a phone from a computer.

The rules, in order, because the tokens overlap:

* ``wxwork/`` or ``wxworklocal/`` is WeCom, which also carries ``MicroMessenger/``.
* ``miniProgram`` (web-view, Weixin 7.0.0 and later) or ``MiniProgramEnv/`` (requests
  made by mini-program code) is a mini-program, on phones and computers alike.
* ``WindowsWechat`` or ``MacWechat`` is desktop Weixin. Older Mac builds carry both
  ``MacWechat`` and ``WindowsWechat``, so the platform is Mac whenever ``MacWechat`` is
  present.
* ``MicroMessenger/<version>`` is mobile Weixin; a version below 6.0.2 cannot add cards.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from h5.i18n import page_language

WEIXIN = "weixin"
WEIXIN_OUTDATED = "weixin-outdated"
WEIXIN_DESKTOP = "weixin-desktop"
WECOM = "wecom"
MINI_PROGRAM = "mini-program"
BROWSER = "browser"
CLIENT_CLASSES = (WEIXIN, WEIXIN_OUTDATED, WEIXIN_DESKTOP, WECOM, MINI_PROGRAM, BROWSER)

# The oldest Weixin whose JS-SDK offers wx.addCard.
MIN_CARD_VERSION = (6, 0, 2)

# Substring tests on the lower-cased user agent find the class tokens. One regular
# expression with an alternation of all tokens took about 20 times as long per string
# (benchmarks/run.py), because it tries every alternative at every position.
_WECOM = re.compile(r"\bwxwork(?:local)?/")
# At most 9 digits a part, so that int() stays cheap and a forged version cannot be huge.
_VERSION = re.compile(r"micromessenger/(\d{1,9}(?:\.\d{1,9})*)(?!\d)")


@dataclass(frozen=True)
class ClientInfo:
    """The class of a client, its Weixin version as integers, and the page language.

    ``version`` is ``None`` when the user agent carries no ``MicroMessenger/<version>``.
    ``platform`` is ``mac`` or ``windows`` for desktop Weixin, else empty. ``mobile`` is
    only computed for the plain-browser class and is ``False`` for the others.
    """

    client_class: str
    version: tuple[int, ...] | None
    language: str
    platform: str = ""
    mobile: bool = False

    @property
    def supports_cards(self) -> bool:
        """Return whether this client can run ``wx.addCard`` from an H5 page."""
        return self.client_class == WEIXIN


def parse_version(text: str) -> tuple[int, ...]:
    """Return ``"6.0.2.58"`` as ``(6, 0, 2, 58)``, so that 6.0.10 sorts after 6.0.2."""
    return tuple(int(part) for part in text.split("."))


def classify(user_agent: str | None) -> ClientInfo:
    """Return the client class, Weixin version and page language for a User-Agent value."""
    ua = user_agent or ""
    language = page_language(ua)

    lowered = ua.lower()
    version_match = _VERSION.search(lowered)
    version = parse_version(version_match.group(1)) if version_match else None

    if "wxwork" in lowered and _WECOM.search(lowered):
        return ClientInfo(WECOM, version, language)
    if "miniprogram" in lowered:
        return ClientInfo(MINI_PROGRAM, version, language)
    if "macwechat" in lowered:
        return ClientInfo(WEIXIN_DESKTOP, version, language, platform="mac")
    if "windowswechat" in lowered:
        return ClientInfo(WEIXIN_DESKTOP, version, language, platform="windows")
    if "micromessenger" in lowered:
        # NOTE: a MicroMessenger token without a version is taken as current Weixin,
        # because the user agent gives no reason to refuse it.
        if version is not None and version < MIN_CARD_VERSION:
            return ClientInfo(WEIXIN_OUTDATED, version, language)
        return ClientInfo(WEIXIN, version, language)
    return ClientInfo(BROWSER, None, language, mobile=_is_mobile_browser(ua))


@functools.lru_cache(maxsize=1024)
def _is_mobile_browser(user_agent: str) -> bool:
    # Only here does the full parser add something: a phone cannot scan its own screen,
    # so the page words its advice differently.
    # Imported here because loading its regex table takes about 0.2 s, which every
    # wxcard command and server start would otherwise pay.
    import user_agents

    parsed = user_agents.parse(user_agent)
    return bool(parsed.is_mobile or parsed.is_tablet)

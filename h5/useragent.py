"""Client classes of the landing page, from the User-Agent header.

Weixin-family clients are distinguished with one compiled regular expression, because
on Android nearly every user agent is new (device model and build differ) and
``user_agents.parse`` took about 0.8 ms per uncached string on the development machine. ``user_agents`` is
consulted only for the plain-browser class, to tell a phone from a computer.

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

# One pass finds every token that decides the class. The named group shows which token matched.
# A version part has at most 9 digits, because int() rejects strings of more than 4300
# digits. A longer part leaves the token without a version.
_TOKENS = re.compile(
    r"(?P<wecom>\bwxwork(?:local)?/)"
    r"|(?P<mini>miniProgram|MiniProgramEnv/)"
    r"|(?P<mac>MacWechat)"
    r"|(?P<windows>WindowsWechat)"
    r"|MicroMessenger/(?P<version>\d{1,9}(?:\.\d{1,9})*)(?!\d)"
    r"|(?P<bare>MicroMessenger)",
    re.IGNORECASE,
)


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

    found: set[str] = set()
    version: tuple[int, ...] | None = None
    for match in _TOKENS.finditer(ua):
        kind = match.lastgroup or ""
        if kind == "version":
            if version is None:
                version = parse_version(match.group("version"))
            found.add("weixin")
        elif kind == "bare":
            found.add("weixin")
        else:
            found.add(kind)

    if "wecom" in found:
        return ClientInfo(WECOM, version, language)
    if "mini" in found:
        return ClientInfo(MINI_PROGRAM, version, language)
    if "mac" in found:
        return ClientInfo(WEIXIN_DESKTOP, version, language, platform="mac")
    if "windows" in found:
        return ClientInfo(WEIXIN_DESKTOP, version, language, platform="windows")
    if "weixin" in found:
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

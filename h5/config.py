"""Settings from the environment and from a ``.env`` file in the working directory.

``Settings.from_env`` raises ``SettingError`` naming the setting and what to do, so
``wxcard serve`` can stop with one line and exit code 2 instead of a traceback.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from dotenv import dotenv_values

DEFAULT_API_BASE = "https://api.weixin.qq.com"
DEFAULT_JSSDK_URL = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"
_APPID = re.compile(r"wx[0-9a-f]{16}")
_HOST = re.compile(r"[A-Za-z0-9.-]+(:\d{1,5})?")


class SettingError(ValueError):
    """A missing or invalid setting. ``name`` is the environment variable."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(f"{name}: {message}")


@dataclass(frozen=True)
class Settings:
    """Every setting of wxcard-h5, already checked."""

    appid: str
    appsecret: str = field(repr=False)
    api_base: str = DEFAULT_API_BASE
    campaigns_path: Path = Path("campaigns.toml")
    store_url: str = "sqlite:///wxcard.sqlite3"
    secret_key: str = field(default="", repr=False)
    public_hosts: tuple[str, ...] = ()
    jssdk_url: str = DEFAULT_JSSDK_URL
    token: str = field(default="", repr=False)
    aes_key: str = field(default="", repr=False)
    merchant_key: str = field(default="", repr=False)
    webhook_url: str = ""
    handoff_max_age: int = 600
    push_window: int = 300
    push_max_body: int = 64 * 1024
    http_timeout: float = 5.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: str | Path = ".env") -> "Settings":
        """Read settings from ``environ`` (default ``os.environ``) over the values in ``env_file``."""
        values: dict[str, str] = {}
        if environ is None:
            path = Path(env_file)
            if path.is_file():
                values.update({k: v for k, v in dotenv_values(path).items() if v is not None})
            values.update(os.environ)
        else:
            values.update(environ)
        return cls._from_mapping(values)

    @classmethod
    def _from_mapping(cls, env: Mapping[str, str]) -> "Settings":
        appid = _required(env, "WXCARD_APPID", "set it to the AppID of your Official Account (wx + 16 hex digits)")
        if not _APPID.fullmatch(appid):
            raise SettingError("WXCARD_APPID", f"{appid!r} is not an AppID; it looks like wx followed by 16 hex digits")
        appsecret = _required(env, "WXCARD_APPSECRET", "set it to the AppSecret from the Official Accounts Platform")

        api_base = env.get("WXCARD_API_BASE", DEFAULT_API_BASE).rstrip("/")
        if not api_base.startswith(("https://", "http://")):
            raise SettingError("WXCARD_API_BASE", f"{api_base!r} must be an http(s) URL such as {DEFAULT_API_BASE}")

        return cls(
            appid=appid,
            appsecret=appsecret,
            api_base=api_base,
            campaigns_path=Path(env.get("WXCARD_CAMPAIGNS", "campaigns.toml")),
            store_url=env.get("WXCARD_STORE", "sqlite:///wxcard.sqlite3"),
            secret_key=env.get("WXCARD_SECRET_KEY", ""),
            public_hosts=_hosts(env.get("WXCARD_PUBLIC_HOSTS", "")),
            jssdk_url=env.get("WXCARD_JSSDK_URL", DEFAULT_JSSDK_URL),
            token=env.get("WXCARD_TOKEN", ""),
            aes_key=env.get("WXCARD_AES_KEY", ""),
            merchant_key=env.get("WXCARD_MERCHANT_KEY", ""),
            webhook_url=env.get("WXCARD_WEBHOOK_URL", ""),
            handoff_max_age=_positive_int(env, "WXCARD_HANDOFF_MAX_AGE", 600),
            push_window=_positive_int(env, "WXCARD_PUSH_WINDOW", 300),
            push_max_body=_positive_int(env, "WXCARD_PUSH_MAX_BODY", 64 * 1024),
            http_timeout=float(_positive_int(env, "WXCARD_HTTP_TIMEOUT", 5)),
        )

    def require_serving(self) -> None:
        """Check the settings that ``wxcard serve`` needs beyond the API credentials."""
        if len(self.secret_key) < 16:
            raise SettingError(
                "WXCARD_SECRET_KEY",
                "set it to a random string of at least 16 characters, e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`",
            )
        if not self.public_hosts:
            raise SettingError(
                "WXCARD_PUBLIC_HOSTS",
                "set it to the comma-separated hosts registered as JS secure domains, e.g. h5.example.com",
            )
        if self.aes_key and len(self.aes_key) != 43:
            raise SettingError("WXCARD_AES_KEY", f"must be the 43-character EncodingAESKey, got {len(self.aes_key)} characters")


def _required(env: Mapping[str, str], name: str, what_to_do: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingError(name, f"is missing; {what_to_do}")
    return value


def _hosts(raw: str) -> tuple[str, ...]:
    hosts = tuple(h.strip().lower() for h in raw.split(",") if h.strip())
    for host in hosts:
        if not _HOST.fullmatch(host):
            raise SettingError("WXCARD_PUBLIC_HOSTS", f"{host!r} is not a host name; give bare hosts such as h5.example.com")
    return hosts


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) == 0:
        raise SettingError(name, f"{raw!r} must be a positive whole number")
    return int(raw)

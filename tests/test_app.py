"""The backend app as a whole: health check and no redirects built from the Host header."""

from __future__ import annotations

import json
import secrets

import httpx

from h5.app import create_app
from h5.config import Settings
from h5.context import ROOT
from h5.sandbox import DEFAULT_APPID, DEFAULT_SECRET
from h5.serving import ThreadedServer


def test_no_slash_redirect_to_other_host(sandbox, tmp_path):
    body = json.loads((ROOT / "examples" / "hotpot-groupon.json").read_text(encoding="utf-8"))
    card_id = sandbox.state.create_card(DEFAULT_APPID, body)
    campaigns = tmp_path / "campaigns.toml"
    campaigns.write_text(f'[campaigns.hotpot]\ncards = ["{card_id}"]\n', encoding="utf-8")
    settings = Settings.from_env(
        {
            "WXCARD_APPID": DEFAULT_APPID,
            "WXCARD_APPSECRET": DEFAULT_SECRET,
            "WXCARD_API_BASE": sandbox.base_url,
            "WXCARD_CAMPAIGNS": str(campaigns),
            "WXCARD_STORE": f"sqlite:///{tmp_path / 'app.sqlite3'}",
            "WXCARD_SECRET_KEY": secrets.token_urlsafe(24),
            "WXCARD_PUBLIC_HOSTS": "127.0.0.1",
        }
    )
    with ThreadedServer(create_app(settings), name="backend") as backend:
        assert httpx.get(f"{backend.base_url}/healthz").text == "ok"
        for path in ("/cards/hotpot/", "/healthz/", "/jssdk/config/"):
            response = httpx.get(backend.base_url + path, headers={"Host": "evil.example"})
            assert response.status_code == 404, path
            assert "location" not in response.headers, path


def test_store_outage_is_503(sandbox, tmp_path):
    """With Redis unreachable, the JSON endpoints return 503 with Retry-After, not a 500."""
    import socket

    from h5.store import open_store

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    store_url = f"redis://:hunter2-password@127.0.0.1:{closed_port}/0"

    body = json.loads((ROOT / "examples" / "hotpot-groupon.json").read_text(encoding="utf-8"))
    card_id = sandbox.state.create_card(DEFAULT_APPID, body)
    campaigns = tmp_path / "campaigns.toml"
    campaigns.write_text(f'[campaigns.hotpot]\ncards = ["{card_id}"]\n', encoding="utf-8")
    settings = Settings.from_env(
        {
            "WXCARD_APPID": DEFAULT_APPID,
            "WXCARD_APPSECRET": DEFAULT_SECRET,
            "WXCARD_API_BASE": sandbox.base_url,
            "WXCARD_CAMPAIGNS": str(campaigns),
            "WXCARD_STORE": store_url,
            "WXCARD_SECRET_KEY": secrets.token_urlsafe(24),
            "WXCARD_PUBLIC_HOSTS": "127.0.0.1",
        }
    )
    with ThreadedServer(create_app(settings, open_store(store_url)), name="backend") as backend:
        card_ext = httpx.get(f"{backend.base_url}/cards/hotpot/card-ext", timeout=30)
        config = httpx.get(f"{backend.base_url}/jssdk/config", params={"url": f"{backend.base_url}/cards/hotpot"}, timeout=30)

    for response in (card_ext, config):
        assert response.status_code == 503
        assert response.headers["retry-after"]
        assert response.json()["error"] == "store_unavailable"
        assert "hunter2" not in response.text


def test_store_url_error_hides_password():
    import pytest

    from h5.store import StoreURLError, open_store

    with pytest.raises(StoreURLError) as raised:
        open_store("mysql://admin:hunter2@db.example.com/wxcard")
    assert "hunter2" not in str(raised.value)
    assert "db.example.com" in str(raised.value)

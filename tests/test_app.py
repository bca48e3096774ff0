"""The backend app as a whole: no redirects built from the Host header, 503 on a store outage."""

from __future__ import annotations

import socket

import httpx
import pytest

from h5.app import create_app
from h5.serving import ThreadedServer
from h5.store import StoreURLError, open_store
from tests.test_shared_store import approved_card, backend_settings


def test_no_slash_redirect_to_other_host(sandbox, tmp_path):
    settings = backend_settings(tmp_path, sandbox, approved_card(sandbox), f"sqlite:///{tmp_path / 'app.sqlite3'}")
    with ThreadedServer(create_app(settings), name="backend") as backend:
        assert httpx.get(f"{backend.base_url}/healthz").text == "ok"
        for path in ("/cards/shared/", "/healthz/", "/jssdk/config/"):
            response = httpx.get(backend.base_url + path, headers={"Host": "evil.example"})
            assert response.status_code == 404, path
            assert "location" not in response.headers, path


def test_store_outage_is_503(sandbox, tmp_path):
    """With Redis unreachable, the JSON endpoints return 503 with Retry-After, not a 500."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    store_url = f"redis://:hunter2-password@127.0.0.1:{closed_port}/0"
    settings = backend_settings(tmp_path, sandbox, approved_card(sandbox), store_url)

    with ThreadedServer(create_app(settings, open_store(store_url)), name="backend") as backend:
        card_ext = httpx.get(f"{backend.base_url}/cards/shared/card-ext", timeout=30)
        config = httpx.get(f"{backend.base_url}/jssdk/config", params={"url": f"{backend.base_url}/cards/shared"}, timeout=30)

    for response in (card_ext, config):
        assert response.status_code == 503
        assert response.headers["retry-after"]
        assert response.json()["error"] == "store_unavailable"
        assert "hunter2" not in response.text


def test_store_url_error_hides_password():
    with pytest.raises(StoreURLError) as raised:
        open_store("mysql://admin:hunter2@db.example.com/wxcard")
    assert "hunter2" not in str(raised.value)
    assert "db.example.com" in str(raised.value)

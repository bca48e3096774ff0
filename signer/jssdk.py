"""The wx.config signature of the JS-SDK."""

import hashlib

from signer.errors import require_text


def signed_url(page_url: str) -> str:
    """Return the part of ``page_url`` that Weixin signs: everything before the first ``#``.

    The rest is kept byte for byte. Percent-escapes stay escaped and ``&`` stays ``&``,
    because the client signs the URL exactly as its web view shows it.
    """
    require_text("url", page_url)
    return page_url.split("#", 1)[0]


def config_signature(jsapi_ticket: str, noncestr: str, timestamp: str, url: str) -> str:
    """Return the hex sha1 that ``wx.config`` expects as ``signature``.

    The four names sort as jsapi_ticket, noncestr, timestamp, url. They are joined as
    ``key=value`` with ``&`` and nothing is URL-escaped.
    """
    fields = {
        "jsapi_ticket": require_text("jsapi_ticket", jsapi_ticket),
        "noncestr": require_text("noncestr", noncestr),
        "timestamp": require_text("timestamp", timestamp),
        "url": signed_url(url),
    }
    string1 = "&".join(f"{name}={fields[name]}" for name in sorted(fields))
    return hashlib.sha1(string1.encode("utf-8")).hexdigest()

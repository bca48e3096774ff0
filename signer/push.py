"""Signatures on Weixin's pushes to the server URL."""

import hashlib
import hmac

from signer.errors import require_text


def push_signature(token: str, timestamp: str, nonce: str, encrypt: str | None = None) -> str:
    """Return the hex sha1 over the sorted token, timestamp, nonce (and ``Encrypt`` in secure mode).

    With ``encrypt`` this is the ``msg_signature`` of secure mode; without it, the plain
    ``signature`` of the URL check and of plaintext pushes.
    """
    parts = [
        require_text("token", token),
        require_text("timestamp", timestamp),
        require_text("nonce", nonce),
    ]
    if encrypt is not None:
        parts.append(require_text("encrypt", encrypt))
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signatures_match(expected: str, received: str) -> bool:
    """Compare two hex signatures in constant time, ignoring case of the received one."""
    return hmac.compare_digest(expected.encode("ascii", "replace"), received.lower().encode("ascii", "replace"))

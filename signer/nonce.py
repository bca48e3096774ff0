"""Nonces for wx.config, card_ext and pushes."""

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def make_nonce(length: int = 16) -> str:
    """Return a random alphanumeric nonce from ``secrets``.

    Weixin limits ``nonce_str`` in card_ext to 32 characters, so ``length`` must be 1..32.
    """
    if not 1 <= length <= 32:
        raise ValueError(f"nonce length {length} is outside 1..32, the limit Weixin sets for nonce_str")
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))

"""Pure signing for Weixin Cards & Offers: no I/O and no clock reads.

Every function takes text and returns text. A value that is not a ``str`` is rejected
with ``SigningInputError`` before anything is hashed, because ``str(None)`` or a number
sorted as a number produces a signature that Weixin computes differently.
"""

from signer.card import CardExt, build_card_ext, card_ext_signature, choose_card_signature
from signer.errors import SigningInputError
from signer.jssdk import config_signature, signed_url
from signer.nonce import make_nonce
from signer.push import push_signature

__all__ = [
    "CardExt",
    "SigningInputError",
    "build_card_ext",
    "card_ext_signature",
    "choose_card_signature",
    "config_signature",
    "make_nonce",
    "push_signature",
    "signed_url",
]

from signer.secure import PushCrypto, SecureModeError  # noqa: E402

__all__ += ["PushCrypto", "SecureModeError"]

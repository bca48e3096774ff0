"""Secure-mode (AES) encryption of pushes, as Weixin's WXBizMsgCrypt sample does it.

AESKey is base64 of the 43-character EncodingAESKey plus ``=``, 32 bytes. The cipher is
AES-256-CBC with the first 16 key bytes as IV. The plaintext is 16 random bytes, the
message length as 4 bytes big-endian, the UTF-8 message and the appid, padded PKCS#7
style to a multiple of 32 bytes (not AES's 16).
"""

import base64
import binascii
import os
import re
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from signer.errors import require_text

_BLOCK = 32
_ENCODING_AES_KEY = re.compile(r"[A-Za-z0-9]{43}")


class SecureModeError(ValueError):
    """A secure-mode message could not be decrypted or does not belong to this appid.

    ``code`` is the return code of Weixin's sample library (-40005 appid mismatch,
    -40007 decrypt failed, -40010 base64 failed, -40004 bad EncodingAESKey).
    """

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"{reason} ({code})")


def aes_key_from_encoding_aes_key(encoding_aes_key: str) -> bytes:
    """Return the 32-byte AESKey for a 43-character EncodingAESKey."""
    require_text("encoding_aes_key", encoding_aes_key)
    if not _ENCODING_AES_KEY.fullmatch(encoding_aes_key):
        raise SecureModeError(-40004, "EncodingAESKey must be 43 characters from [A-Za-z0-9]")
    return base64.b64decode(encoding_aes_key + "=")


class PushCrypto:
    """Encrypts and decrypts push bodies for one appid."""

    def __init__(self, encoding_aes_key: str, appid: str) -> None:
        self._key = aes_key_from_encoding_aes_key(encoding_aes_key)
        self.appid = require_text("appid", appid)

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, message: str, random_prefix: bytes | None = None) -> str:
        """Return the base64 ``Encrypt`` value for ``message``.

        ``random_prefix`` (16 bytes) is for test vectors; by default it comes from ``os.urandom``.
        """
        prefix = os.urandom(16) if random_prefix is None else random_prefix
        if len(prefix) != 16:
            raise ValueError(f"random_prefix must be 16 bytes, got {len(prefix)}")
        body = require_text("message", message).encode("utf-8")
        plain = prefix + struct.pack(">I", len(body)) + body + self.appid.encode("utf-8")

        pad = _BLOCK - len(plain) % _BLOCK
        plain += bytes([pad]) * pad

        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")

    def decrypt(self, encrypt: str) -> str:
        """Return the message inside ``encrypt``, after checking that its appid is ours."""
        try:
            ciphertext = base64.b64decode(require_text("encrypt", encrypt), validate=True)
        except binascii.Error as exc:
            raise SecureModeError(-40010, f"Encrypt is not valid base64: {exc}") from None
        if not ciphertext or len(ciphertext) % 16:
            raise SecureModeError(-40007, f"Encrypt decodes to {len(ciphertext)} bytes, not whole AES blocks")

        decryptor = self._cipher().decryptor()
        plain = decryptor.update(ciphertext) + decryptor.finalize()

        pad = plain[-1]
        if not 1 <= pad <= _BLOCK or len(plain) < 20 + pad:
            raise SecureModeError(-40007, "padding is invalid; the EncodingAESKey is probably wrong")
        plain = plain[:-pad]

        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise SecureModeError(-40008, "the message length exceeds the decrypted buffer")
        message = plain[20 : 20 + length]
        appid = plain[20 + length :].decode("utf-8", "replace")

        # The appid check is what stops a push encrypted for another account being accepted.
        if appid != self.appid:
            raise SecureModeError(-40005, f"the message is for appid {appid!r}, not {self.appid!r}")
        try:
            return message.decode("utf-8")
        except UnicodeDecodeError:
            raise SecureModeError(-40008, "the message is not valid UTF-8") from None

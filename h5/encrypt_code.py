"""Recover the original ``encrypt_code`` from the raw query string of a custom-entry URL.

Weixin appends ``encrypt_code`` as standard base64, which contains ``+``, ``/`` and ``=``.
Depending on the hops between Weixin and us it arrives unencoded, percent-encoded once,
percent-encoded twice, or with ``+`` turned into a space by a form decoder.
``card/code/decrypt`` accepts only the exact original, so the value is read from the raw
query string (Starlette's parser has already turned ``+`` into a space) and restored here.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote, unquote_plus

# ``card/code/decrypt`` documents encrypt_code as string(128).
MAX_ENCRYPT_CODE_LENGTH = 128

# Bounds the work of percent-decoding. Encoding twice makes a value at most five times longer
# ('+' becomes '%252B'), so eight times leaves room.
MAX_RAW_LENGTH = 8 * MAX_ENCRYPT_CODE_LENGTH

# A percent-encoded value is decoded at most this many times.
MAX_DECODE_ROUNDS = 2

_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


class InvalidEncryptCode(ValueError):
    """The encrypt_code in the query string is missing, repeated or not standard base64."""


def raw_query_values(query_string: bytes | str, name: str) -> list[str]:
    """Return every raw, still percent-encoded value of parameter ``name``, in order.

    Only the parameter names are decoded (form rules) to compare them with ``name``;
    the values are returned exactly as they appear in the query string.
    """
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")

    values = []
    for pair in query_string.split("&"):
        key, _, value = pair.partition("=")
        if unquote_plus(key) == name:
            values.append(value)
    return values


def recover_encrypt_code(raw: str) -> str:
    """Return the original base64 encrypt_code behind one raw query-string value.

    Raises ``InvalidEncryptCode`` when the value is too long or is not valid standard
    base64 after decoding.
    """
    if not raw:
        raise InvalidEncryptCode("encrypt_code is empty; open the link from the card in Weixin again")
    if len(raw) > MAX_RAW_LENGTH:
        raise InvalidEncryptCode(f"encrypt_code is {len(raw)} characters long; at most {MAX_RAW_LENGTH} are accepted")

    # Base64 has no '%', so a '%' left over means one more layer of percent-encoding.
    # ``unquote`` (not ``unquote_plus``) keeps a literal '+' as the base64 character it is.
    value = raw
    for _ in range(MAX_DECODE_ROUNDS):
        if "%" not in value:
            break
        try:
            value = unquote(value, errors="strict")
        except UnicodeDecodeError:
            raise InvalidEncryptCode("encrypt_code contains percent-escapes that are not UTF-8; it is not base64") from None

    # Base64 has no spaces either, so every space is a '+' that a form decoder replaced.
    value = value.replace(" ", "+")

    validate_base64(value)
    return value


def validate_base64(value: str) -> None:
    """Raise ``InvalidEncryptCode`` unless ``value`` is padded standard base64 of an allowed length."""
    if len(value) > MAX_ENCRYPT_CODE_LENGTH:
        raise InvalidEncryptCode(
            f"encrypt_code is {len(value)} characters long after decoding; at most {MAX_ENCRYPT_CODE_LENGTH} are accepted"
        )
    if not _BASE64.fullmatch(value) or len(value) % 4 != 0:
        raise InvalidEncryptCode("encrypt_code is not standard base64 (A-Z, a-z, 0-9, '+', '/', padded with '=')")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidEncryptCode("encrypt_code is not standard base64 (A-Z, a-z, 0-9, '+', '/', padded with '=')") from None


def encrypt_code_from_query(query_string: bytes | str) -> str:
    """Return the original encrypt_code of a raw query string, which must carry exactly one."""
    values = raw_query_values(query_string, "encrypt_code")
    if not values:
        raise InvalidEncryptCode("encrypt_code is missing; open the link from the card in Weixin")
    if len(values) > 1:
        raise InvalidEncryptCode(f"encrypt_code appears {len(values)} times; a link from Weixin carries it once")
    return recover_encrypt_code(values[0])

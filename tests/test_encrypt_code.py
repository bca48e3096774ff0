"""encrypt_code recovery from raw query strings, on the shared encrypt-code case and hostile inputs."""

from __future__ import annotations

import pytest

from h5.encrypt_code import (
    MAX_ENCRYPT_CODE_LENGTH,
    InvalidEncryptCode,
    encrypt_code_from_query,
    raw_query_values,
    recover_encrypt_code,
)
from tests.shared_material import cases

CASE = cases("encrypt-code")[0]
ORIGINAL = CASE["expect"]["posted_to_card_code_decrypt"]["encrypt_code"]


@pytest.mark.parametrize("query_string", CASE["given"]["query_strings"])
def test_case_variants_recover_original(query_string: str) -> None:
    assert encrypt_code_from_query(query_string.encode("ascii")) == ORIGINAL


def test_space_for_plus_recovered() -> None:
    form_decoded = ORIGINAL.replace("+", " ")
    assert recover_encrypt_code(form_decoded) == ORIGINAL
    assert recover_encrypt_code(ORIGINAL.replace("+", "%20")) == ORIGINAL


def test_value_among_other_parameters() -> None:
    encoded = ORIGINAL.replace("+", "%2B").replace("=", "%3D")
    query = f"card_id=pCARD&encrypt_code={encoded}&openid=oUSER&outer_str=a%2Bb"
    assert encrypt_code_from_query(query) == ORIGINAL


def test_raw_values_keep_encoding() -> None:
    assert raw_query_values(b"a=1&encrypt_code=x%2By+z&b", "encrypt_code") == ["x%2By+z"]
    assert raw_query_values(b"encrypt%5Fcode=v", "encrypt_code") == ["v"]


@pytest.mark.parametrize(
    "query_string",
    [
        "",
        "card_id=pCARD",
        "encrypt_code=",
        "encrypt_code=abc",
        "encrypt_code=abcd*efg",
        "encrypt_code=%25252BAAA",
        "encrypt_code=%ff%fe%fd%fc",
        "encrypt_code=QUJD%0AQUJD",
        "encrypt_code=QUJDRA==&encrypt_code=QUJDRA==",
        "encrypt_code=" + "A" * (MAX_ENCRYPT_CODE_LENGTH + 4),
        "encrypt_code=" + "%25" * 2000,
    ],
)
def test_invalid_values_rejected(query_string: str) -> None:
    with pytest.raises(InvalidEncryptCode):
        encrypt_code_from_query(query_string)


def test_three_encodings_rejected() -> None:
    thrice = ORIGINAL.replace("+", "%25252B").replace("=", "%25253D")
    with pytest.raises(InvalidEncryptCode):
        recover_encrypt_code(thrice)

"""The campaign file reader: order, checks that name the key, and the hand-over campaign choice."""

from pathlib import Path

import pytest

from h5.campaigns import CampaignFileError, campaign_for_card, load_campaigns


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaigns.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_campaigns_keep_file_order(tmp_path):
    path = write(
        tmp_path,
        '[campaigns.spring]\ncards = ["pB", "pA"]\nredirect_to = "https://shop.example.com/c"\n'
        '[campaigns.autumn]\ncards = ["pA"]\n',
    )
    campaigns = load_campaigns(path)
    assert list(campaigns) == ["spring", "autumn"]
    assert campaigns["spring"].cards == ("pB", "pA")
    assert campaigns["spring"].redirect_to == "https://shop.example.com/c"
    assert campaigns["autumn"].redirect_to is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not toml = [", "not valid TOML"),
        ("[other]\nx = 1\n", "no [campaigns.NAME] table"),
        ("[campaigns.a]\nredirect_to = 'https://x.example.com'\n", "campaigns.a.cards: missing"),
        ("[campaigns.a]\ncards = []\n", "campaigns.a.cards: missing"),
        ("[campaigns.a]\ncards = ['p A']\n", "is not a card_id"),
        ("[campaigns.a]\ncards = [1]\n", "is not a card_id"),
        ("[campaigns.a]\ncards = 'pA'\n", "must be a list"),
        ("[campaigns.a]\ncards = ['pA']\nredirect_too = 'https://x.example.com'\n", "unknown key 'redirect_too'"),
        ("[campaigns.a]\ncards = ['pA']\nredirect_to = 'http://shop.example.com/'\n", "must be an https URL"),
        ("[campaigns.a]\ncards = ['pA']\nredirect_to = 'javascript:alert(1)'\n", "must be an https URL"),
        ("[campaigns.redirect]\ncards = ['pA']\n", "reserved"),
        ("[campaigns.'a b']\ncards = ['pA']\n", "may use only letters"),
    ],
)
def test_invalid_file_names_the_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(CampaignFileError) as raised:
        load_campaigns(path)
    assert expected in str(raised.value)
    assert str(path) in str(raised.value)


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(CampaignFileError) as raised:
        load_campaigns(tmp_path / "absent.toml")
    assert "file not found" in str(raised.value)


def test_loopback_http_allowed_for_development(tmp_path):
    path = write(tmp_path, '[campaigns.dev]\ncards = ["pA"]\nredirect_to = "http://127.0.0.1:8200/shop"\n')
    assert load_campaigns(path)["dev"].redirect_to == "http://127.0.0.1:8200/shop"


def test_hand_over_campaign_choice(tmp_path):
    path = write(tmp_path, '[campaigns.first]\ncards = ["pA"]\n[campaigns.second]\ncards = ["pB", "pA"]\n')
    campaigns = load_campaigns(path)
    assert campaign_for_card(campaigns, "pA").name == "first"
    assert campaign_for_card(campaigns, "pA", requested="second").name == "second"
    assert campaign_for_card(campaigns, "pB", requested="first").name == "second"
    assert campaign_for_card(campaigns, "pA", requested="unknown").name == "first"
    assert campaign_for_card(campaigns, "pZ") is None

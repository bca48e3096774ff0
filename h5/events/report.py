"""Channel report: per outer_str and card, how many cards were received, consumed and deleted.

Consume and delete pushes carry no channel, so each is attributed to the channel of the
``user_get_card`` that brought its code. A card received as a gift keeps the channel of
the giver's code (``OldUserCardCode``) and is not counted as a new receipt. A restored
member card is not counted again either. Receipts are read before consumes and deletes,
so pushes that arrived out of order are still attributed. A consume or delete of a code
with no stored ``user_get_card`` is counted under an empty outer_str.
"""

from __future__ import annotations

from dataclasses import dataclass

from h5.events.model import UserConsumeCard, UserDelCard, UserGetCard, parse_event
from h5.store import StoredEvent


@dataclass
class ChannelRow:
    outer_str: str
    card_id: str
    received: int = 0
    consumed: int = 0
    deleted: int = 0

    @property
    def conversion_rate(self) -> float | None:
        """Consumed divided by received, or None when nothing was received."""
        return self.consumed / self.received if self.received else None

    def to_dict(self) -> dict[str, object]:
        return {
            "outer_str": self.outer_str,
            "card_id": self.card_id,
            "received": self.received,
            "consumed": self.consumed,
            "deleted": self.deleted,
            "conversion_rate": self.conversion_rate,
        }


def channel_report(events: list[StoredEvent]) -> list[ChannelRow]:
    """Count received, consumed and deleted cards per (outer_str, card_id), in first-seen order."""
    rows: dict[tuple[str, str], ChannelRow] = {}
    channel_of_code: dict[tuple[str, str], str] = {}

    def row(outer_str: str, card_id: str) -> ChannelRow:
        return rows.setdefault((outer_str, card_id), ChannelRow(outer_str, card_id))

    typed = [parse_event(stored.fields) for stored in events]
    for event in typed:
        if isinstance(event, UserGetCard):
            _count_receipt(event, channel_of_code, row)
    for event in typed:
        if isinstance(event, (UserConsumeCard, UserDelCard)):
            channel = channel_of_code.get((event.card_id, event.user_card_code or ""), "")
            target = row(channel, event.card_id)
            if isinstance(event, UserConsumeCard):
                target.consumed += 1
            else:
                target.deleted += 1
    return list(rows.values())


def _count_receipt(event: UserGetCard, channel_of_code: dict[tuple[str, str], str], row) -> None:
    code = (event.card_id, event.user_card_code or "")
    if event.is_give_by_friend and event.old_user_card_code:
        channel_of_code[code] = channel_of_code.get((event.card_id, event.old_user_card_code), event.outer_str or "")
        return
    if event.is_restore_member_card:
        channel_of_code.setdefault(code, event.outer_str or "")
        return
    channel_of_code[code] = event.outer_str or ""
    row(event.outer_str or "", event.card_id).received += 1

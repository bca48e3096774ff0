"""Whether each card of each campaign can be added, from ``card/get``.

Weixin lets an Official Account issue only its own cards, and a card that is not yet
approved can be received only by users on the test whitelist. ``wxcard campaigns``, the
server's start-up log and the landing page all use ``check_card`` to say which it is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass

from h5.context import AppContext
from h5.errors import APIPermissionError, InvalidCardError, SystemBusyError, WeixinAPIError, WeixinTransportError
from h5.weixin_types import CardInfo

logger = logging.getLogger(__name__)

APPROVED = "approved"
IN_REVIEW = "in_review"
REJECTED = "rejected"
DELETED = "deleted"
NOT_FOUND = "not_found"
UNREACHABLE = "unreachable"
# Weixin returned an error that is not about the card, such as an invalid AppSecret.
ERROR = "error"

_STATES_BY_STATUS = {
    "CARD_STATUS_VERIFY_OK": APPROVED,
    "CARD_STATUS_DISPATCH": APPROVED,
    "CARD_STATUS_NOT_VERIFY": IN_REVIEW,
    "CARD_STATUS_VERIFY_FAIL": REJECTED,
    "CARD_STATUS_DELETE": DELETED,
    "CARD_STATUS_USER_DELETE": DELETED,
}

# A card that is not approved is fetched again after this many seconds, so that an
# approval shows on the landing page within a minute instead of after the card cache TTL.
UNAPPROVED_MAX_AGE = 30.0

# Failed checks are reused for this many seconds, so that a page view does not wait for
# a Weixin timeout on every request while Weixin is unreachable.
FAILURE_TTL = 30.0


@dataclass(frozen=True)
class CardCheck:
    """The state of one card of one campaign; ``detail`` is a short English explanation."""

    campaign: str
    card_id: str
    state: str
    detail: str
    title: str = ""

    @property
    def addable(self) -> bool:
        return self.state == APPROVED

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def state_of(info: CardInfo) -> tuple[str, str]:
    """Return the state and detail for a ``card/get`` result."""
    state = _STATES_BY_STATUS.get(info.status)
    if state is None:
        return ERROR, f"unknown card status {info.status!r}"
    return state, info.status


def _failure(campaign: str, card_id: str, exc: Exception) -> CardCheck:
    if isinstance(exc, InvalidCardError) or (isinstance(exc, APIPermissionError) and exc.errcode == 45030):
        detail = f"errcode {exc.errcode}: the card_id does not exist for this appid or has no API permission"
        return CardCheck(campaign, card_id, NOT_FOUND, detail)
    if isinstance(exc, (WeixinTransportError, SystemBusyError)):
        return CardCheck(campaign, card_id, UNREACHABLE, str(exc))
    if isinstance(exc, TimeoutError):
        return CardCheck(campaign, card_id, UNREACHABLE, "timed out waiting for Weixin")
    if isinstance(exc, WeixinAPIError):
        return CardCheck(campaign, card_id, ERROR, str(exc))
    raise exc


class CardChecker:
    """Card checks through ``ctx.card_info``, with each failure reused for ``FAILURE_TTL`` seconds."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._failures: dict[str, tuple[float, Exception]] = {}

    async def check(self, campaign: str, card_id: str) -> tuple[CardCheck, CardInfo | None]:
        """Return the card's state and, when Weixin returned it, its ``card/get`` result."""
        failed = self._failures.get(card_id)
        if failed is not None and time.monotonic() - failed[0] < FAILURE_TTL:
            return _failure(campaign, card_id, failed[1]), None

        try:
            info = await self.ctx.card_info(card_id)
            if not info.approved:
                info = await self.ctx.card_info(card_id, max_age=UNAPPROVED_MAX_AGE)
        except (WeixinAPIError, WeixinTransportError, TimeoutError) as exc:
            self._failures[card_id] = (time.monotonic(), exc)
            check = _failure(campaign, card_id, exc)
            logger.warning("card check failed campaign=%s card_id=%s state=%s: %s", campaign, card_id, check.state, exc)
            return check, None

        self._failures.pop(card_id, None)
        state, detail = state_of(info)
        return CardCheck(campaign, card_id, state, detail, title=info.title), info


async def check_campaigns(ctx: AppContext, checker: CardChecker | None = None) -> list[CardCheck]:
    """Check every card of every campaign, in file order, with the card/get calls run concurrently."""
    checker = checker or CardChecker(ctx)
    pairs = [(campaign.name, card_id) for campaign in ctx.campaigns.values() for card_id in campaign.cards]
    results = await asyncio.gather(*(checker.check(name, card_id) for name, card_id in pairs))
    return [check for check, _ in results]

"""Access tokens (``cgi-bin/token``, ``cgi-bin/stable_token``) and tickets (``getticket``).

Rules modelled from Weixin's documentation:

* ``cgi-bin/token``: each fetch issues a new token. The previous one stays valid for
  300 s more (never past its own expiry) and then returns 40001. Tokens live 7200 s,
  then return 42001. 2000 fetches per app per day (Beijing day), then 45009.
* ``cgi-bin/stable_token``: isolated from ``cgi-bin/token``. Normal mode returns the same
  token until 300 s before it expires, then a new one while the old one runs out its
  time. ``force_refresh`` issues a new token and invalidates the old one at once. It
  does so at most 20 times a day and 30 s apart, and otherwise behaves like normal mode.
* Tickets (``jsapi``, ``wx_card``) are per app and stay the same for 7200 s.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from h5.sandbox.errors import SandboxError, data_format

if TYPE_CHECKING:
    from h5.sandbox.state import SandboxState

logger = logging.getLogger(__name__)

TOKEN_LIFETIME = 7200
TICKET_LIFETIME = 7200
HANDOVER_GRACE = 300
TOKEN_DAILY_QUOTA = 2000
STABLE_DAILY_QUOTA = 500_000
FORCE_REFRESH_DAILY_LIMIT = 20
FORCE_REFRESH_MIN_INTERVAL = 30
TICKET_TYPES = ("jsapi", "wx_card")


@dataclass
class Token:
    """An issued access_token; ``kind`` is ``token`` or ``stable``."""

    value: str
    appid: str
    kind: str
    issued_at: float
    expires_at: float
    # Set when a newer token replaced this one: after this time it returns 40001.
    invalid_after: float | None = None
    # Set by ``expire_tokens``: the token returns 42001 from then on.
    forced_expired: bool = False

    def usable(self, now: float) -> bool:
        return (
            not self.forced_expired
            and now < self.expires_at
            and (self.invalid_after is None or now < self.invalid_after)
        )


@dataclass
class Ticket:
    value: str
    expires_at: float


def beijing_day(now: float) -> int:
    """Return the day number in UTC+8, the day Weixin's daily quotas reset on."""
    return int((now + 8 * 3600) // 86400)


class TokenMixin:
    """Token and ticket methods of ``SandboxState``."""

    def __init__(self: "SandboxState") -> None:
        self.tokens: dict[str, Token] = {}
        self.current_token: dict[str, Token] = {}
        self.current_stable: dict[str, Token] = {}
        self.tickets: dict[tuple[str, str], Ticket] = {}
        # (appid, kind, beijing day) -> calls that passed the credential checks.
        self.daily_fetches: dict[tuple[str, str, int], int] = {}
        self.force_refreshes: dict[str, list[float]] = {}
        self.token_daily_quota = TOKEN_DAILY_QUOTA

    # -- credentials ---------------------------------------------------------------------

    def _check_credentials(
        self: "SandboxState", grant_type: Any, appid: Any, secret: Any, client_ip: str | None
    ) -> str:
        if not appid:
            raise SandboxError(41002, "appid missing")
        if not secret:
            raise SandboxError(41004, "appsecret missing")
        if grant_type != "client_credential":
            raise SandboxError(40002, f"invalid grant_type {grant_type!r}: must be client_credential")
        app = self.app(str(appid))
        if app.ip_whitelist is not None and client_ip not in app.ip_whitelist:
            raise SandboxError(40164, f"invalid ip {client_ip}, not in whitelist")
        if not secrets.compare_digest(str(secret).encode(), app.secret.encode()):
            raise SandboxError(40125, "invalid appsecret")
        return app.appid

    def _count_daily(self: "SandboxState", appid: str, kind: str, quota: int) -> None:
        key = (appid, kind, beijing_day(self.now()))
        used = self.daily_fetches.get(key, 0)
        if used >= quota:
            raise SandboxError(45009, "reach max api daily quota limit")
        self.daily_fetches[key] = used + 1

    def _new_token(self: "SandboxState", appid: str, kind: str) -> Token:
        now = self.now()
        token = Token(secrets.token_urlsafe(102), appid, kind, now, now + TOKEN_LIFETIME)
        self.tokens[token.value] = token
        return token

    def fetch_token(
        self: "SandboxState", grant_type: Any, appid: Any, secret: Any, client_ip: str | None = None
    ) -> dict[str, Any]:
        """Handle ``GET cgi-bin/token``: a new token; the previous one keeps 300 s of grace."""
        with self.lock:
            appid = self._check_credentials(grant_type, appid, secret, client_ip)
            self._count_daily(appid, "token", self.token_daily_quota)

            now = self.now()
            previous = self.current_token.get(appid)
            if previous is not None and previous.usable(now):
                previous.invalid_after = min(previous.expires_at, now + HANDOVER_GRACE)
            token = self._new_token(appid, "token")
            self.current_token[appid] = token
            self.counters.token_fetches += 1
        logger.info("sandbox issued access_token appid=%s", appid)
        return {"access_token": token.value, "expires_in": TOKEN_LIFETIME}

    def fetch_stable_token(self: "SandboxState", body: Any, client_ip: str | None = None) -> dict[str, Any]:
        """Handle ``POST cgi-bin/stable_token`` (see the module docstring for the rules)."""
        if not isinstance(body, dict):
            raise data_format("the body must be a JSON object")
        force = body.get("force_refresh", False)
        if not isinstance(force, bool):
            raise data_format(f"force_refresh must be true or false, got {force!r}")

        with self.lock:
            appid = self._check_credentials(body.get("grant_type"), body.get("appid"), body.get("secret"), client_ip)
            self._count_daily(appid, "stable", STABLE_DAILY_QUOTA)
            now = self.now()
            current = self.current_stable.get(appid)

            if force and self._may_force_refresh(appid, now):
                if current is not None:
                    current.invalid_after = now
                current = None
            elif current is not None and current.usable(now) and now < current.expires_at - HANDOVER_GRACE:
                self.counters.stable_token_fetches += 1
                return {"access_token": current.value, "expires_in": int(current.expires_at - now)}

            # A new token; an old one in its last 300 s runs out its own time.
            token = self._new_token(appid, "stable")
            self.current_stable[appid] = token
            self.counters.stable_token_fetches += 1
        logger.info("sandbox issued stable access_token appid=%s force_refresh=%s", appid, force)
        return {"access_token": token.value, "expires_in": TOKEN_LIFETIME}

    def _may_force_refresh(self: "SandboxState", appid: str, now: float) -> bool:
        today = beijing_day(now)
        history = [stamp for stamp in self.force_refreshes.get(appid, []) if beijing_day(stamp) == today]
        if len(history) >= FORCE_REFRESH_DAILY_LIMIT:
            return False
        if history and now - history[-1] < FORCE_REFRESH_MIN_INTERVAL:
            return False
        history.append(now)
        self.force_refreshes[appid] = history
        return True

    def check_token(self: "SandboxState", value: str | None) -> str:
        """Return the appid of a usable access_token or raise 41001, 40014, 42001 or 40001."""
        if not value:
            raise SandboxError(41001, "access_token missing")
        with self.lock:
            token = self.tokens.get(value)
            now = self.now()
            if token is None:
                raise SandboxError(40014, "invalid access_token")
            if token.forced_expired or now >= token.expires_at:
                raise SandboxError(42001, "access_token expired")
            if token.invalid_after is not None and now >= token.invalid_after:
                raise SandboxError(40001, "invalid credential, access_token is invalid or not latest")
            return token.appid

    def expire_tokens(self: "SandboxState", appid: str) -> int:
        """Make every usable token of ``appid`` return 42001 from now on, and return how many there were."""
        with self.lock:
            now = self.now()
            expired = 0
            for token in self.tokens.values():
                if token.appid == appid and token.usable(now):
                    token.forced_expired = True
                    expired += 1
        logger.info("sandbox expired %d access_token(s) appid=%s", expired, appid)
        return expired

    # -- tickets -------------------------------------------------------------------------

    def fetch_ticket(self: "SandboxState", appid: str, ticket_type: str | None) -> dict[str, Any]:
        """Handle ``cgi-bin/ticket/getticket``: the same ticket for 7200 s, then a new one.

        ``expires_in`` is the remaining lifetime, 7200 on the first fetch.
        """
        if ticket_type not in TICKET_TYPES:
            raise SandboxError(40097, f"invalid args: type {ticket_type!r} must be jsapi or wx_card")
        with self.lock:
            now = self.now()
            ticket = self.tickets.get((appid, ticket_type))
            if ticket is None or now >= ticket.expires_at:
                ticket = Ticket(secrets.token_urlsafe(64), now + TICKET_LIFETIME)
                self.tickets[(appid, ticket_type)] = ticket
                logger.info("sandbox issued %s ticket appid=%s", ticket_type, appid)
            self.counters.ticket_fetches[ticket_type] += 1
            return {"errcode": 0, "errmsg": "ok", "ticket": ticket.value, "expires_in": int(ticket.expires_at - now)}

    def tickets_for(self: "SandboxState", appid: str) -> dict[str, str | None]:
        """Return the current ``jsapi`` and ``wx_card`` tickets of ``appid`` (None if none is valid)."""
        with self.lock:
            now = self.now()
            current = {}
            for ticket_type in TICKET_TYPES:
                ticket = self.tickets.get((appid, ticket_type))
                current[ticket_type] = ticket.value if ticket is not None and now < ticket.expires_at else None
            return current

"""Credentials the fake LMArena issues and checks: the Supabase session cookie
`arena-auth-prod-v1` (protocol doc §1.11), reCAPTCHA / Turnstile tokens (§3.2–§3.4) and
Cloudflare clearances (§3.1).

The registries are plain objects owned by one `FakeArena`, which calls them under its lock.
Time comes from the arena's injected clock (`now` arguments), so tests can age tokens.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from testkit.fakes.arena_ids import uuid4

AUTH_COOKIE = "arena-auth-prod-v1"
CLEARANCE_COOKIE = "cf_clearance"
PROVISIONAL_COOKIE = "provisional_user_id"
V3_SITE_KEY = "6Led_uYrAAAAAKjxDIF58fgFtX3t8loNAK85bW9I"  # §3.2
V2_SITE_KEY = "6Ld7ePYrAAAAAB34ovoFoDau1fqCJ6IyOjFEQaMn"  # §3.3
TURNSTILE_SITE_KEY = "0x4AAAAAAA65vWDmG-O_lPtT"  # §3.4


@dataclass(frozen=True)
class AuthSession:
    access_token: str
    refresh_token: str
    user_id: str
    expires_at: int
    expires_in: int
    email: str | None = None  # set: a signed-in account (§10.1); None: anonymous

    def as_json(self) -> dict[str, Any]:
        """The Supabase session object that the cookie carries (§1.11)."""
        return {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token,
            "user": {"id": self.user_id, "aud": "authenticated", "role": "authenticated",
                     "is_anonymous": self.email is None, "email": self.email},
        }

    def cookie_value(self) -> str:
        raw = json.dumps(self.as_json(), separators=(",", ":")).encode()
        return "base64-" + base64.b64encode(raw).decode("ascii")


def make_jwt(payload: Mapping[str, Any]) -> str:
    """A JWT-shaped string (`header.payload.signature`, base64url); the signature is random."""
    header = {"alg": "HS256", "typ": "JWT"}
    parts = [_b64url(json.dumps(part, separators=(",", ":")).encode())
             for part in (header, payload)]
    return ".".join([*parts, _b64url(secrets.token_bytes(32))])


def jwt_payload(token: str) -> dict[str, Any] | None:
    try:
        segment = token.split(".")[1]
        value = json.loads(_b64decode(segment))
    except (IndexError, ValueError, binascii.Error):
        return None
    return value if isinstance(value, dict) else None


def decode_cookie(value: str) -> dict[str, Any] | None:
    """The session JSON of an `arena-auth-prod-v1` value (`base64-…`, std or url alphabet)."""
    if not value.startswith("base64-"):
        return None
    try:
        parsed = json.loads(_b64decode(value.removeprefix("base64-")))
    except (ValueError, binascii.Error):
        return None
    return parsed if isinstance(parsed, dict) else None


def auth_cookie(cookies: Mapping[str, str]) -> str | None:
    """The cookie value, joining the split form `arena-auth-prod-v1.0` + `.1` (§1.11)."""
    if AUTH_COOKIE in cookies:
        return cookies[AUTH_COOKIE]
    first, second = cookies.get(f"{AUTH_COOKIE}.0"), cookies.get(f"{AUTH_COOKIE}.1")
    return first + second if first and second else None


class AuthRegistry:
    """The server-side set of valid Supabase sessions."""

    def __init__(self, ttl: int) -> None:
        self.ttl = ttl
        self._by_access: dict[str, AuthSession] = {}
        self._by_refresh: dict[str, AuthSession] = {}

    def issue(self, now: float, issuer: str, user_id: str | None = None,
              expires_in: int | None = None, email: str | None = None) -> AuthSession:
        lifetime = self.ttl if expires_in is None else expires_in
        user = user_id or uuid4()
        expires_at = int(now) + lifetime
        claims = {"iss": issuer, "sub": user, "aud": "authenticated", "exp": expires_at,
                  "iat": int(now), "role": "authenticated", "is_anonymous": email is None,
                  "session_id": uuid4()}
        session = AuthSession(make_jwt(claims), secrets.token_urlsafe(9), user, expires_at,
                              lifetime, email)
        self._by_access[session.access_token] = session
        self._by_refresh[session.refresh_token] = session
        return session

    def check(self, cookie: str | None, now: float) -> AuthSession | None:
        """The session a cookie value names if it is known and not expired."""
        data = decode_cookie(cookie or "")
        session = self._by_access.get(str((data or {}).get("access_token")))
        if session is None or session.expires_at <= now:
            return None
        return session

    def known_user(self, cookie: str | None) -> str | None:
        """The user of a known (possibly expired) cookie, to rotate it on GET / (§1.9)."""
        session = self.known(cookie)
        return session.user_id if session else None

    def known(self, cookie: str | None) -> AuthSession | None:
        """The session a cookie names, expired or not."""
        data = decode_cookie(cookie or "")
        return self._by_access.get(str((data or {}).get("access_token")))

    def refresh(self, refresh_token: str, now: float, issuer: str) -> AuthSession | None:
        old = self._by_refresh.pop(refresh_token, None)
        if old is None:
            return None
        return self.issue(now, issuer, user_id=old.user_id, email=old.email)

    def expire_all(self, now: float) -> None:
        for token, session in list(self._by_access.items()):
            self._by_access[token] = replace(session, expires_at=int(now) - 1)


@dataclass
class IssuedToken:
    """A reCAPTCHA (or Turnstile) token the fake library minted."""

    token: str
    site_key: str
    action: str
    issued_at: float
    used: bool = False
    redeemed_at: float | None = None  # when a request presented it (the first time)


@dataclass
class TokenRegistry:
    """Single-use tokens with a maximum age (§3.2: "single-use, valid ≈2 min")."""

    prefix: str
    tokens: dict[str, IssuedToken] = field(default_factory=dict)

    def issue(self, site_key: str, action: str, now: float) -> IssuedToken:
        token = IssuedToken(self.prefix + secrets.token_urlsafe(48), site_key, action, now)
        self.tokens[token.token] = token
        return token

    def redeem(self, token: object, site_keys: tuple[str, ...], now: float, max_age: float,
               action: str | None = None) -> bool:
        """Check and burn `token`; False if empty, unknown, used, stale or for another key."""
        issued = self.tokens.get(token) if isinstance(token, str) else None
        if issued is None or issued.used:
            return False
        issued.used = True
        issued.redeemed_at = now
        fresh = now - issued.issued_at <= max_age
        return fresh and issued.site_key in site_keys and action in (None, issued.action)

    def snapshot(self) -> list[IssuedToken]:
        return [replace(token) for token in self.tokens.values()]


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    normalised = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(normalised + "=" * (-len(normalised) % 4), validate=True)

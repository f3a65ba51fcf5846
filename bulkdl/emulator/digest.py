"""Server side of HTTP Digest auth (RFC 7616, MD5, qop=auth) as Cloud Manager does it.

Pure functions for parsing, hashing and checking, plus a nonce store with a TTL, so every rule
is unit-testable without a server. `nc` is deliberately not checked for monotonicity:
concurrent requests from one client share a nonce and arrive with their counts out of order.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Collection, Mapping
from typing import Final

REALM: Final = "MMS Public API"
ALGORITHM: Final = "MD5"
QOP: Final = "auth"
DEFAULT_NONCE_TTL_S: Final = 300.0

_REQUIRED: Final = ("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce")
# key=value pairs; the value is a quoted-string (with \-escapes) or a token.
_PAIR: Final = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)')
_ESCAPE: Final = re.compile(r"\\(.)")


class Verdict(enum.Enum):
    """Outcome of checking an Authorization header."""

    OK = "ok"
    STALE = "stale"  # right credentials, but on a nonce we issued that has since expired
    DENIED = "denied"


class NonceState(enum.Enum):
    """What the store knows about a nonce."""

    VALID = "valid"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


def challenge_header(nonce: str, *, stale: bool = False) -> str:
    """The exact WWW-Authenticate value Cloud Manager sends (no `opaque`)."""
    return (
        f'Digest realm="{REALM}", domain="", nonce="{nonce}", algorithm={ALGORITHM}, '
        f'qop="{QOP}", stale={"true" if stale else "false"}'
    )


def parse_authorization(header: str | None) -> dict[str, str] | None:
    """The parameters of a `Digest` Authorization header, or None if it is not one."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest" or not rest.strip():
        return None
    params: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        match = _PAIR.match(rest, pos)
        if match is None or match.end() == pos:
            return None  # malformed: refuse rather than guess
        key, quoted, token = match.groups()
        params[key.lower()] = _ESCAPE.sub(r"\1", quoted) if quoted is not None else token
        pos = match.end()
    return params


def md5_hex(text: str) -> str:
    """H(data) of RFC 7616 for MD5: the lowercase hex digest of the UTF-8 bytes."""
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def expected_response(
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    nc: str,
    cnonce: str,
    realm: str = REALM,
    qop: str = QOP,
) -> str:
    """MD5(HA1:nonce:nc:cnonce:qop:HA2), HA1 = MD5(user:realm:password), HA2 = MD5(method:uri)."""
    ha1 = md5_hex(f"{username}:{realm}:{password}")
    ha2 = md5_hex(f"{method.upper()}:{uri}")
    return md5_hex(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def check_credentials(
    params: Mapping[str, str] | None,
    *,
    method: str,
    uris: Collection[str],
    keys: Mapping[str, str],
    nonce_state: Callable[[str], NonceState],
) -> Verdict:
    """Judge parsed Authorization params against the request and the known API keys.

    `uris` are the request-target spellings accepted (raw and decoded path+query). The nonce
    is judged last, so STALE is only said to a client that knows the private key.
    """
    if params is None or any(not params.get(k) for k in _REQUIRED):
        return Verdict.DENIED
    password = keys.get(params["username"])
    if (
        password is None
        or params["realm"] != REALM
        or params.get("algorithm", ALGORITHM).upper() != ALGORITHM
        or params["qop"] != QOP
        or params["uri"] not in uris
    ):
        return Verdict.DENIED
    expected = expected_response(
        username=params["username"],
        password=password,
        method=method,
        uri=params["uri"],
        nonce=params["nonce"],
        nc=params["nc"],
        cnonce=params["cnonce"],
    )
    if not hmac.compare_digest(expected, params["response"].lower()):
        return Verdict.DENIED
    state = nonce_state(params["nonce"])
    if state is NonceState.UNKNOWN:
        return Verdict.DENIED
    return Verdict.STALE if state is NonceState.EXPIRED else Verdict.OK


class NonceStore:
    """Nonces we issued, with their issue time; they expire after `ttl_s` seconds.

    Expired nonces are remembered a while longer so a late client is told `stale=true`
    (re-authenticate silently) rather than treated as a stranger.
    """

    def __init__(
        self, ttl_s: float = DEFAULT_NONCE_TTL_S, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._issued: dict[str, float] = {}
        self._expired_early: set[str] = set()  # made stale by `expire`, before their TTL
        self._forget_after_s = max(10 * ttl_s, 60.0)

    def issue(self) -> str:
        """A fresh 32-character base64 nonce, like Cloud Manager's."""
        now = self._clock()
        self._prune(now)
        nonce = base64.b64encode(secrets.token_bytes(24)).decode()
        self._issued[nonce] = now
        return nonce

    def state(self, nonce: str) -> NonceState:
        """Whether `nonce` is ours and still fresh."""
        issued = self._issued.get(nonce)
        if issued is None:
            return NonceState.UNKNOWN
        if nonce in self._expired_early or self._clock() - issued >= self.ttl_s:
            return NonceState.EXPIRED
        return NonceState.VALID

    def expire(self, nonce: str) -> None:
        """Make one issued nonce stale now (fault injection: its next use gets stale=true)."""
        if nonce in self._issued:
            self._expired_early.add(nonce)

    def expire_all(self) -> None:
        """Make every issued nonce stale now."""
        self._expired_early.update(self._issued)

    def __len__(self) -> int:
        return len(self._issued)

    def _prune(self, now: float) -> None:
        while self._issued:  # insertion order is issue order: drop from the oldest end
            oldest = next(iter(self._issued))
            if now - self._issued[oldest] <= self._forget_after_s:
                break
            del self._issued[oldest]
            self._expired_early.discard(oldest)

"""Access tokens already verified, kept until they expire: a token is checked once per process,
not on every request. Only a verification's success is kept, with the keys that verified it;
access tokens are never revoked before their expiry (CONTRACT.md), so a kept one is exactly as
valid as a fresh check would find it."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence

from auth.tokens import EXPIRED, AccessClaims, InvalidAccessToken, verify_access_token

CAPACITY = 4_096


class VerifiedTokens:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._kept: OrderedDict[str, tuple[Sequence[str], float, AccessClaims]] = OrderedDict()

    def claims(self, token: str, *, keys: Sequence[str]) -> AccessClaims:
        """What `verify_access_token` would answer (InvalidAccessToken included)."""
        kept = self._kept.get(token)
        if kept is not None and kept[0] == keys:
            if time.time() < kept[1]:
                self._kept.move_to_end(token)
                return kept[2]
            del self._kept[token]
            raise InvalidAccessToken(EXPIRED)
        claims = verify_access_token(token, keys=keys)
        self._kept[token] = (keys, claims.expires_at.timestamp(), claims)
        if len(self._kept) > self.capacity:
            self._kept.popitem(last=False)
        return claims

    def __len__(self) -> int:
        return len(self._kept)

"""Bearer tokens presented to the API, checked against those configured (gslb/tokens.py).

Every presented token is hashed and compared with every configured hash in constant time, so
neither timing nor order says which one was near.
"""

from __future__ import annotations

import hashlib
import hmac

from gslb.tokens import ApiToken


class TokenTable:
    """The configured tokens, looked up by the secret a request presents."""

    def __init__(self, tokens: tuple[ApiToken, ...]) -> None:
        self.tokens = tokens  # names are unique: Settings.validate sees to it

    def __bool__(self) -> bool:
        return bool(self.tokens)

    def find(self, presented: str) -> ApiToken | None:
        digest = hashlib.sha256(presented.encode()).digest()
        found = None
        for token in self.tokens:  # no early exit: every request costs the same comparisons
            if hmac.compare_digest(digest, bytes.fromhex(token.sha256)):
                found = token
        return found

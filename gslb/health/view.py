"""What the health checks tell the answering processes: who is down, and which pools are unsettled.

One value, sent whole whenever either part changes (health process → parent → workers), because
the two are read together: a down member withdraws an answer, an unsettled pool shortens its TTL
(gslb/snapshot/ttl.py), and a snapshot built from one without the other would promise a TTL its health
does not back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Key = tuple[str, str]  # (pool, member address)


@dataclass(frozen=True, slots=True)
class HealthView:
    down: frozenset[Key] = frozenset()  # members that must not be answered
    unsettled: frozenset[str] = frozenset()  # pools with a checked member not settled

    def document(self) -> dict[str, Any]:
        return {"down": sorted(self.down), "unsettled": sorted(self.unsettled)}

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> HealthView:
        """The view ``document`` holds; ValueError, TypeError or KeyError if it does not hold one.
        A document without ``unsettled`` (a health process of the version before) settles all."""
        down = frozenset((str(pool), str(address)) for pool, address in document["down"])
        return cls(down, frozenset(str(name) for name in document.get("unsettled", ())))

"""Problems found in declarations, collected rather than raised one at a time.

Operators fix declarations in one pass only if they see every problem at once, each with its file,
object and field (``zones/pools.toml: pools.www.members[1].address: ...``), like octoDNS's
ValidationError; the readers therefore note problems here and go on reading.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from gslb.errors import GslbError


@dataclass(frozen=True, slots=True)
class Problem:
    """One invalid field: where it is and what is wrong with it."""

    path: str
    where: str  # object and field, e.g. pools.www.members[1].address
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.where}: {self.message}"


class DeclarationError(GslbError):
    """Declarations that cannot be applied; ``problems`` lists every one found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class Problems:
    """The problems found so far, and the file being read (the one each new problem names)."""

    def __init__(self) -> None:
        self.found: list[Problem] = []
        self.path = Path()

    def add(self, where: str, message: str) -> None:
        self.found.append(Problem(str(self.path), where, message))

    def __len__(self) -> int:
        return len(self.found)

    def raise_all(self) -> None:
        if self.found:
            raise DeclarationError(self.found)

    def raise_relative(self, prefix: str) -> None:
        """Raise what was found in one object read on its own (the API's), named relative to it."""
        if self.found:
            raise DeclarationError([replace(p, where=p.where.removeprefix(f"{prefix}.")) for p in self.found])

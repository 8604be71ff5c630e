"""One error hierarchy, mapped to protocol answers and exit codes in one place each."""

from __future__ import annotations


class GslbError(Exception):
    """Base of every error gslb raises on purpose."""


class ConfigError(GslbError):
    """Settings that cannot be used; the message names the setting."""


class ZoneError(GslbError):
    """A zone file that cannot be served; the message names file, line or owner."""

    def __init__(self, path: str, detail: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.detail = detail
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {detail}")


class FormatError(GslbError):
    """A DNS message that cannot be parsed; answered with FORMERR when a header is readable."""

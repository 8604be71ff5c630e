"""Structured logs: one ``key=value`` line per meaningful event, never ``print``."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

_RESERVED = set(vars(logging.makeLogRecord({})))


class KeyValueFormatter(logging.Formatter):
    """``ts=... level=... event=... key=value ...``; values with spaces are quoted."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields.update((k, v) for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_"))
        line = " ".join(f"{key}={_quote(value)}" for key, value in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _quote(value: Any) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=\n\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def configure(level: str = "info") -> None:
    """Send gslb's logs to stderr in key=value form."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger("gslb")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False

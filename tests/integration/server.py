"""The integration tests' import point for a real ``gslb serve`` on a free loopback port.

The launcher lives in harness/, free of pytest, so that bench/ runs the same code.
"""

from __future__ import annotations

from harness.gslb import GslbProcess
from harness.process import free_port

__all__ = ["GslbProcess", "free_port"]

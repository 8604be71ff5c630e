"""The integration tests' import point for a real ``gslb serve`` on a free loopback port.

The launcher lives in tests.servers, free of pytest, so that bench/ runs the same code.
"""

from __future__ import annotations

from tests.servers.gslb import GslbProcess
from tests.servers.process import free_port

__all__ = ["GslbProcess", "free_port"]
